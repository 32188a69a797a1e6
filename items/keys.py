"""What an import compares each row with: the content hashes and external
ids the project holds, and those the file has brought so far.

Looking rows up in the item table chunk by chunk probes a random place in a
large index for every row, which on a big project costs more than writing
the rows. Instead the project's keys are read once, in one pass, into sorted
numpy arrays of 128-bit prefixes (16 bytes a key: 32 MB for a million
items), and every chunk is checked with a vectorised binary search. The
unique indexes on the item table remain the guarantee; this only decides
what to try to insert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from django.db import connection

FETCH = 50_000


def hash_keys(hex_hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) 64-bit halves of the first 128 bits of sha256 hex digests."""
    if not hex_hashes:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    words = np.frombuffer(bytes.fromhex("".join(h[:32] for h in hex_hashes)), dtype=">u8").reshape(
        -1, 2
    )
    return words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)


def id_keys(external_ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    digests = b"".join(hashlib.sha256(x.encode("utf-8")).digest()[:16] for x in external_ids)
    if not digests:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    words = np.frombuffer(digests, dtype=">u8").reshape(-1, 2)
    return words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)


class _Segment:
    """Keys sorted by (hi, lo), with a flag each."""

    def __init__(self, hi: np.ndarray, lo: np.ndarray, flag: np.ndarray):
        order = np.lexsort((lo, hi))
        self.hi, self.lo, self.flag = hi[order], lo[order], flag[order]

    def find(self, hi: np.ndarray, lo: np.ndarray, present: np.ndarray, flag: np.ndarray) -> None:
        left = np.searchsorted(self.hi, hi, side="left")
        right = np.searchsorted(self.hi, hi, side="right")
        single = right - left == 1
        # The usual case: one stored key with this hi; compare lo at once.
        idx = np.nonzero(single)[0]
        hit = idx[self.lo[left[idx]] == lo[idx]]
        present[hit] = True
        flag[hit] |= self.flag[left[hit]]
        # Two stored keys sharing 64 bits: rare, checked one by one.
        for i in np.nonzero(right - left > 1)[0]:
            span = slice(left[i], right[i])
            match = np.nonzero(self.lo[span] == lo[i])[0]
            if len(match):
                present[i] = True
                flag[i] |= bool(self.flag[span][match[0]])


class KeySet:
    """A set of 128-bit keys with a flag each, that grows chunk by chunk.

    Segments of roughly doubling size, merged like a binary counter, keep
    both adding and searching at O(log n) segments.
    """

    def __init__(self) -> None:
        self.segments: list[_Segment] = []

    def __len__(self) -> int:
        return sum(len(s.hi) for s in self.segments)

    def add(self, hi: np.ndarray, lo: np.ndarray, flag: np.ndarray | None = None) -> None:
        if not len(hi):
            return
        flag = np.zeros(len(hi), bool) if flag is None else flag
        while self.segments and len(self.segments[-1].hi) <= len(hi):
            last = self.segments.pop()
            hi, lo, flag = (
                np.concatenate(pair) for pair in ((last.hi, hi), (last.lo, lo), (last.flag, flag))
            )
        self.segments.append(_Segment(hi, lo, flag))

    def find(self, hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(present, flag) for each query key."""
        present = np.zeros(len(hi), bool)
        flag = np.zeros(len(hi), bool)
        for segment in self.segments:
            segment.find(hi, lo, present, flag)
        return present, flag


def project_keys(project_id: int) -> tuple[KeySet, KeySet]:
    """The project's content hashes, and its external ids flagged with
    whether their item may be replaced (open, not annotated yet): one pass."""
    hashes, ids = KeySet(), KeySet()
    # A server-side cursor on PostgreSQL: the rows stream in batches instead
    # of arriving all at once (a million of them would cost 200 MB here).
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT i.content_hash, i.external_id, (i.external_id IS NOT NULL AND i.state = 'open' "
            "AND NOT EXISTS (SELECT 1 FROM annotation_annotation a WHERE a.item_id = i.id)) "
            "FROM annotation_item i WHERE i.project_id = %s",
            [project_id],
        )
        while rows := cursor.fetchmany(FETCH):
            hashes.add(*hash_keys([r[0] for r in rows]))
            with_id = [r for r in rows if r[1] is not None]
            if with_id:
                hi, lo = id_keys(r[1] for r in with_id)
                ids.add(hi, lo, np.fromiter((bool(r[2]) for r in with_id), bool, len(with_id)))
    return hashes, ids
