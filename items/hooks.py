"""What items tell the apps above them, and ask them (accord/hooks.py).
The annotation app connects these in its AppConfig.ready."""

from __future__ import annotations

from accord.hooks import Event, Provider

# New items entered the queue, or priorities changed (``rerank``), in a
# project whose queue order is not import order: the queue's ranks and the
# annotators' cursors follow, in the same transaction.
queue_reordered = Event("items.queue_reordered", arguments=("project", "rerank"))

# A SQL condition, true when the item row aliased ``alias`` has annotation
# work on it (such an item is never deleted or overwritten by an import).
annotated_sql = Provider("items.annotated_sql", arguments=("alias",))
