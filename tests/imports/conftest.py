from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture
def upload(api_for, lead, project, wait_for_job):
    """Upload ``body`` as a file to the fixture project and wait for the job."""

    def do(body: bytes, name: str = "items.jsonl", wait: bool = True, **options):
        answer = api_for(lead).post(
            f"/api/v1/projects/{project.pk}/items/",
            {"file": SimpleUploadedFile(name, body), **options},
            format="multipart",
        )
        if not wait or answer.status_code != 202:
            return answer, None
        return answer, wait_for_job(answer.json()["job"]["id"])

    return do
