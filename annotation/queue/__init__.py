"""The task queue: claims, leases, submissions and their revisions, one
module per verb (``claim``, ``submit``, ``release``, ``revisions``) over what
they share (``rows``: tables, locks, row loading; ``ranks``). Callers import
each name from the module that holds it.

The rules (DESIGN.md, "The queue") and how the package keeps them:

* **Exact overlap.** An item has ``free_slots`` (CHECK 0..overlap). A claim
  takes a slot with a conditional decrement and records the slot number on
  its assignment; a partial unique index on (item, slot) over active and
  submitted assignments makes a second holder of one slot impossible even
  if this code had a bug. Every path that gives a slot back (expiry, skip,
  later, lead release) goes through ``release.release``: one
  ``UPDATE … WHERE state = 'active' RETURNING``, so a slot comes back once.
* **One lease per person.** Claims and every other write of one annotator in
  one project take their membership row ``FOR UPDATE`` first
  (``rows.member_lock``, ``rows.own_assignment``; on SQLite the IMMEDIATE
  transaction does it), so two tabs get the same lease; a partial unique
  index allows one active lease per (project, annotator).
* **Cost independent of how far ahead.** Each annotator has a cursor on the
  queue's sort key (rank, id). Everything before it was, when passed, done by
  them or full; slots that come back behind it are listed in ReopenedSlot and
  checked first. The cursor never moves past a row another claim had locked
  (SKIP LOCKED), since that row may still have a slot for this annotator.
* **Lock order.** membership → item → assignment for claims; membership →
  assignment → item for submits, edits and undo; sweeps take assignment →
  item. A claim only locks items whose assignment for this annotator is not
  active, so it never waits on a row a sweep of the same annotator holds.
* **Upward events.** The queue imports nothing from review: a complete item
  is settled by the settler registered in ``annotation.hooks``, and "item
  compared" goes to that module's listeners.
"""
