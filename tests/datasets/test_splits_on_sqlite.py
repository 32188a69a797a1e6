"""Split assignment in the embedded mode (SQLite) gives every item the split
PostgreSQL gives it, for the same items, gold and salt: plain and grouped
by a metadata field, first for a batch, then for the items added since, then
through an export with splits (DESIGN.md, "Export": splits are assigned once
from a hash of the salt and the group key, stratified, and never
reassigned)."""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest

from tests.datasets import split_scenario
from tests.ops.helpers import MANAGE, embedded_migrated, run


@pytest.fixture(scope="module")
def on_sqlite(tmp_path_factory) -> dict:
    """The scenario's result on a fresh, migrated SQLite database."""
    folder = tmp_path_factory.mktemp("embedded") / "data"
    env = embedded_migrated(folder)
    script = (
        "from django.db import connection; assert connection.vendor == 'sqlite'; "
        "from tests.datasets.split_scenario import main; main()"
    )
    done = run([sys.executable, str(MANAGE), "shell", "-c", script], env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.django_db
def test_sqlite_assigns_the_splits_postgresql_assigns(on_sqlite, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    on_postgres = split_scenario.run()
    on_postgres["export"] = split_scenario.export_round()

    assert on_postgres["assigned"] == on_sqlite["assigned"]
    # Every item once in each round, none again once all have one.
    assert on_postgres["assigned"][0] == 200 and on_postgres["assigned"][1:3] == [60, 0]
    assert on_postgres["assigned"][4:] == [60, 0]
    for name in ("plain", "grouped"):
        assert len(on_postgres[name]) == 260
        assert on_sqlite[name] == on_postgres[name], name
        assert set(on_postgres[name].values()) == {"train", "validation", "test"}
    # An export on each assigns the 30 new items the same splits.
    exported = on_postgres["export"]
    assert exported["status"] == "succeeded"
    assert (exported["records"], exported["assigned"]) == (290, 30)
    assert len(exported["splits"]) == 290
    assert on_sqlite["export"] == exported


def test_on_sqlite_groups_keep_one_split_and_the_first_shares_hold(on_sqlite):
    result = on_sqlite

    by_doc: dict[str, set] = {}
    for k in range(260):
        doc = split_scenario.doc_of(k)
        if doc is not None:
            # PostgreSQL's ->> text: 3 and "3" are one group, true is "true".
            key = json.dumps(doc) if isinstance(doc, bool) else str(doc)
            by_doc.setdefault(key, set()).add(result["grouped"][f"grouped {k}"])
    assert by_doc and all(len(splits) == 1 for splits in by_doc.values())
    # The first round's 200 plain items: 0.8/0.1/0.1 within each label.
    first = Counter(
        (label, result["plain"][f"plain {k}"])
        for k, label in enumerate(split_scenario.labels(200, 0))
    )
    for label, size in (("pos", 120), ("neg", 60), ("neu", 20)):
        for split, share in split_scenario.FIRST.items():
            assert abs(first[label, split] - share * size) <= 2, (label, split, first)
