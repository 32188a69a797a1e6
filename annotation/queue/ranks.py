"""Queue ranks: where an item sits in its project's queue order.

``random_rank`` and ``RANDOM_RANK_SQL`` compute the same seeded position, in
Python (import) and in PostgreSQL (a re-rank), so the two always agree.
"""

from __future__ import annotations

import hashlib

from projects.models import Project, QueueOrder


def random_rank(seed: int, content_hash: str) -> float:
    """A seeded position in [0, 1), the same in Python and in PostgreSQL's
    ``md5`` (see RANDOM_RANK_SQL), so a re-rank in SQL agrees with import."""
    digest = hashlib.md5(f"{seed}:{content_hash}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:15], 16) / float(1 << 60)


RANDOM_RANK_SQL = (
    "(('x' || substr(md5(%s || ':' || content_hash), 1, 15))::bit(60)::bigint)::float8 "
    "/ 1152921504606846976.0"
)


def item_rank(project: Project, *, priority: float, content_hash: str) -> float:
    if project.queue_order == QueueOrder.PRIORITY:
        return -priority
    if project.queue_order == QueueOrder.RANDOM:
        return random_rank(project.queue_seed, content_hash)
    return 0.0
