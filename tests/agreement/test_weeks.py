"""A submission's week is the ISO week in the project's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from agreement.reliability import _weeks


def test_the_week_turns_at_local_midnight():
    # Sunday 2026-11-22 23:30 UTC is already Monday 00:30 in Berlin (ISO week 48).
    stamp = int(datetime(2026, 11, 22, 23, 30, tzinfo=UTC).timestamp())
    assert _weeks(np.array([stamp]), "UTC").tolist() == [202647]
    assert _weeks(np.array([stamp]), "Europe/Berlin").tolist() == [202648]
    # And earlier in the west: Monday 2026-11-23 03:00 UTC is Sunday evening in Los Angeles.
    monday = int(datetime(2026, 11, 23, 3, 0, tzinfo=UTC).timestamp())
    assert _weeks(np.array([monday]), "America/Los_Angeles").tolist() == [202647]


def test_iso_years_and_empty_input():
    # 2027-01-01 is a Friday: ISO week 53 of 2026.
    stamp = int(datetime(2027, 1, 1, 12, 0, tzinfo=UTC).timestamp())
    assert _weeks(np.array([stamp]), "UTC").tolist() == [202653]
    assert _weeks(np.array([], dtype=np.int64), "UTC").tolist() == []
