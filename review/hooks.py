"""What review tells the apps above it (accord/hooks.py); agreement connects
these in its AppConfig.ready."""

from __future__ import annotations

from accord.hooks import Event

# A gold record was written or changed, after the commit: the figures
# against gold follow.
gold_changed = Event("review.gold_changed", arguments=("project_id",))
