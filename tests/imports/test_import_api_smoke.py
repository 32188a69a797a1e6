import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_jsonl_upload_through_a_real_worker(celery_worker, api_for, project, lead, wait_for_job):
    body = "\n".join(
        json.dumps({"text": f"t{i}", "external_id": f"e{i}"}) for i in range(100)
    ).encode()
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/",
        {"file": SimpleUploadedFile("items.jsonl", body, content_type="application/x-ndjson")},
        format="multipart",
    )
    assert answer.status_code == 202, answer.content
    job = wait_for_job(answer.json()["job"]["id"])
    assert job.status == "succeeded", job.error
    assert job.result["created"] == 100
    listed = api_for(lead).get(f"/api/v1/projects/{project.pk}/items/?q=t9")
    assert {i["external_id"] for i in listed.json()["results"]} == {"e9"} | {
        f"e{n}" for n in range(90, 100)
    }


def test_an_import_leaves_the_item_table_analysed(
    celery_worker, api_for, project, lead, wait_for_job
):
    """The planner then knows the items arrived; before, it believed the
    table as empty as its last statistics said until autovacuum came by."""
    with connection.cursor() as cursor:
        # What a fresh database says: never analysed.
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = 'annotation_item'::regclass"
        )
    body = "\n".join(json.dumps({"text": f"row {i}"}) for i in range(1_200)).encode()
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/",
        {"file": SimpleUploadedFile("items.jsonl", body, content_type="application/x-ndjson")},
        format="multipart",
    )
    job = wait_for_job(answer.json()["job"]["id"])
    assert job.status == "succeeded", job.error

    def tuples() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'annotation_item'::regclass")
            return cursor.fetchone()[0]

    # ANALYZE runs right after the import's commit, in the same worker.
    deadline = time.monotonic() + 20
    while tuples() < 1_200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tuples() >= 1_200
