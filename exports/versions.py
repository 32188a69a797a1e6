"""Reading dataset versions: their stored files, and what changed between
two of them (``manifest_compare``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import orjson
from django.core.files.storage import default_storage

from .bundle import MANIFEST, plain_file
from .models import DatasetVersion
from .splits import UNSPLIT


def _manifest_lines(version: DatasetVersion) -> Iterator[dict]:
    with default_storage.open(version.folder + MANIFEST, "rb") as stored:
        for line in plain_file(stored):
            if line.strip():
                yield orjson.loads(line)


COMPARE_SAMPLE = 100


def manifest_compare(a: DatasetVersion, b: DatasetVersion) -> dict:
    """What changed from version ``a`` to ``b``: records added, removed,
    relabelled (label or value changed) and moved to another split (never,
    if splits are stable). A merge over the two manifests, both sorted by
    item, read line by line: memory stays flat in the size of the versions."""
    kinds = ("added", "removed", "relabelled", "moved_split")
    counts = dict.fromkeys(kinds, 0)
    samples: dict[str, list[int]] = {k: [] for k in kinds}
    unchanged = 0

    def note(kind: str, item: int) -> None:
        counts[kind] += 1
        if len(samples[kind]) < COMPARE_SAMPLE:
            samples[kind].append(item)

    left, right = _manifest_lines(a), _manifest_lines(b)
    x, y = next(left, None), next(right, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x["item"] < y["item"]):
            note("removed", x["item"])
            x = next(left, None)
        elif x is None or y["item"] < x["item"]:
            note("added", y["item"])
            y = next(right, None)
        else:
            changed = False
            if x["label"] != y["label"]:
                note("relabelled", x["item"])
                changed = True
            if x["split"] != y["split"] and UNSPLIT not in (x["split"], y["split"]):
                note("moved_split", x["item"])
                changed = True
            unchanged += not changed
            x, y = next(left, None), next(right, None)
    return {
        "from": a.pk,
        "to": b.pk,
        "unchanged": unchanged,
        "counts": counts,
        "items": samples,
        "sample_size": COMPARE_SAMPLE,
    }


def open_version_file(version: DatasetVersion, name: str) -> BinaryIO:
    return default_storage.open(version.folder + name, "rb")
