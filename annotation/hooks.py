"""The queue's upward events: what annotation announces or asks of the apps
above it (review, agreement) without importing them. Those apps register in
their ``AppConfig.ready``, the way task types and job kinds do.

* ``item_settler``: exactly one function decides where an item whose every
  slot is submitted goes (consensus, review, gold) and returns (new item
  state, outcome). Review registers it; a second registration is refused,
  and settling with none registered fails loudly rather than leave the item
  in the queue.
* ``item_compared``: listeners told ``project_id=`` after an item was
  compared (new reliability data: the agreement report follows).
* ``counters_expected``: listeners that recount, from their own rows, the
  project counters their app writes (``{name: value}``), for the hourly
  counter reconciliation.
* ``item_gold`` and ``unseen_feedback``: the one reader of an item's gold
  record (for the lead's item page) and of how much of an annotator's
  feedback is unread (for the workspace).
"""

from __future__ import annotations

from accord.hooks import Event, Provider

# Called with the item locked; the caller writes the item row. Returns
# (new state, outcome).
item_settler = Provider(
    "annotation.item_settler",
    arguments=("item", "project", "task_type", "config", "now", "counts"),
)
item_compared = Event("annotation.item_compared", arguments=("project_id",))
# Each listener answers {counter name: value}.
counters_expected = Event("annotation.counters_expected", arguments=("project",))
# The item's gold record, or None.
item_gold = Provider("annotation.item_gold", arguments=("item_id",))
# How many feedback notes the annotator has not seen.
unseen_feedback = Provider("annotation.unseen_feedback", arguments=("project", "user"))
