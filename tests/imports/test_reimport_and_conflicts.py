"""The same file three times creates nothing new; external ids with other
content are conflicts (SECURITY.md E6)."""

from __future__ import annotations

import json

import pytest

from annotation.models import Annotation
from items.models import Item
from projects.models import ProjectCounter

pytestmark = pytest.mark.django_db(transaction=True)


def jsonl(rows) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


def test_importing_the_same_file_three_times_creates_nothing_new(celery_worker, upload, project):
    body = jsonl(
        [{"text": f"text {i}", "external_id": f"e{i}"} for i in range(50)] + [{"text": "text 3"}]
    )
    results = [upload(body)[1].result for _ in range(3)]
    assert [(r["created"], r["duplicates"]) for r in results] == [(50, 1), (0, 51), (0, 51)]
    assert Item.objects.filter(project=project).count() == 50
    counters = dict(ProjectCounter.objects.filter(project=project).values_list("name", "value"))
    assert counters["items:total"] == 50 and counters["items:open"] == 50


def test_conflicting_external_ids_are_reported_not_imported(celery_worker, upload, project):
    upload(jsonl([{"text": "first", "external_id": "a"}, {"text": "second", "external_id": "b"}]))
    answer, job = upload(
        jsonl(
            [
                {"text": "changed", "external_id": "a"},
                {"text": "new", "external_id": "c"},
                {"text": "again", "external_id": "c"},
            ]
        )
    )
    assert job.status == "succeeded"
    assert (job.result["created"], job.result["conflicts"]) == (1, 2)
    assert job.result["conflict_lines"] == [
        {"line": 1, "external_id": "a"},
        {"line": 3, "external_id": "c"},
    ]
    assert Item.objects.get(project=project, external_id="a").data == {"text": "first"}


def test_update_mode_replaces_only_items_without_annotations(
    celery_worker, upload, project, annotator
):
    upload(jsonl([{"text": "a v1", "external_id": "a"}, {"text": "b v1", "external_id": "b"}]))
    item_b = Item.objects.get(project=project, external_id="b")
    Annotation.objects.create(
        project=project, item=item_b, annotator=annotator, value="pos", config_version=1
    )
    answer, job = upload(
        jsonl([{"text": "a v2", "external_id": "a"}, {"text": "b v2", "external_id": "b"}]),
        on_conflict="update",
    )
    assert (job.result["updated"], job.result["conflicts"]) == (1, 1)
    assert Item.objects.get(project=project, external_id="a").data == {"text": "a v2"}
    assert Item.objects.get(project=project, external_id="b").data == {"text": "b v1"}
