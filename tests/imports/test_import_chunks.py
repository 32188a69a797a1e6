"""Classification across chunk boundaries: what an earlier chunk brought
counts like what the project already held."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.models import Annotation
from items import importer, reading
from items.keys import KeySet, hash_keys
from items.models import Item
from projects.jobs import job_create, run_job
from projects.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def run_import(project, lead, rows, **options) -> Job:
    body = "\n".join(json.dumps(r) for r in rows).encode()
    name = default_storage.save("imports/chunks.jsonl", ContentFile(body))
    params = {
        "file": name,
        "filename": "c.jsonl",
        "options": importer.ImportOptions(format="jsonl", **options).__dict__,
    }
    job = job_create(project=project, kind="import", user=lead, params=params)
    run_job(job.pk, importer.import_run)
    return Job.objects.get(pk=job.pk)


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_ROWS", 2)


def test_duplicates_and_reused_ids_across_chunks(tiny_chunks, project, lead):
    rows = [
        {"text": "a", "external_id": "1"},
        {"text": "b", "external_id": "2"},
        {"text": "a"},  # chunk 2: content of line 1 again
        {"text": "c", "external_id": "1"},  # chunk 2: id of line 1, other content
        {"text": "d", "external_id": "4"},
    ]
    job = run_import(project, lead, rows)
    assert job.status == "succeeded", job.error
    assert (job.result["created"], job.result["duplicates"], job.result["conflicts"]) == (3, 1, 1)
    assert job.result["conflict_lines"] == [{"line": 4, "external_id": "1"}]
    assert sorted(Item.objects.filter(project=project).values_list("external_id", flat=True)) == [
        "1",
        "2",
        "4",
    ]


def test_update_mode_never_replaces_an_item_this_file_created(
    tiny_chunks, project, lead, annotator
):
    run_import(
        project, lead, [{"text": "v1", "external_id": "x"}, {"text": "w1", "external_id": "y"}]
    )
    Annotation.objects.create(
        project=project,
        item=Item.objects.get(external_id="y"),
        annotator=annotator,
        value="pos",
        config_version=1,
    )
    job = run_import(
        project,
        lead,
        [
            {"text": "v2", "external_id": "x"},  # replaces the stored, unannotated item
            {"text": "w2", "external_id": "y"},  # annotated: a conflict
            {"text": "new", "external_id": "z"},
            {"text": "newer", "external_id": "z"},  # chunk 2: created above, so a conflict
        ],
        on_conflict="update",
    )
    assert (job.result["updated"], job.result["created"], job.result["conflicts"]) == (1, 1, 2)
    assert dict(Item.objects.filter(project=project).values_list("external_id", "data__text")) == {
        "x": "v2",
        "y": "w1",
        "z": "new",
    }


def test_keys_sharing_their_first_64_bits_are_told_apart():
    keys = KeySet()
    keys.add(
        np.array([5, 5, 9], np.uint64),
        np.array([1, 2, 3], np.uint64),
        np.array([False, True, False]),
    )
    present, flag = keys.find(
        np.array([5, 5, 5, 9, 9], np.uint64), np.array([1, 2, 7, 3, 4], np.uint64)
    )
    assert present.tolist() == [True, True, False, True, False]
    assert flag.tolist() == [False, True, False, False, False]


def test_segments_merge_and_still_find_everything():
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(50_000)]
    keys = KeySet()
    for start in range(0, 42_000, 7_000):
        keys.add(*hash_keys(hashes[start : start + 7_000]))
    assert len(keys.segments) <= 3 and len(keys) == 42_000
    present, _ = keys.find(*hash_keys(hashes))
    assert present[:42_000].all() and not present[42_000:].any()
