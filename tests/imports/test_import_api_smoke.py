import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

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
