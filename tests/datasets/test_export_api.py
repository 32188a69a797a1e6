"""The exports API: who may start, read, list, download and compare (SECURITY.md
A1, A4), what a download sends (bytes, type, file name, never a public media
URL), 409 before success, 404 for an unknown split, cursor pages."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from exports import job
from exports.models import DatasetVersion
from projects.jobs import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def golden(project, annotate, annotator, second):
    return [
        annotate(project, (annotator, v), (second, v), text=f"text {n}")
        for n, v in enumerate(["pos", "neg", "pos", "neu"])
    ]


def start(client, project, body=None):
    return client.post(
        f"/api/v1/projects/{project.pk}/exports/", body or {"format": "jsonl"}, format="json"
    )


@pytest.fixture
def done(project, lead, golden, api_for):
    """A succeeded split version."""
    answer = start(
        api_for(lead), project, {"format": "jsonl", "splits": {"train": 0.5, "test": 0.5}}
    )
    assert answer.status_code == 202
    run_job(answer.json()["job"]["id"], job.export_run)
    return DatasetVersion.objects.get(pk=answer.json()["id"])


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_start_answers_202_with_the_version_and_its_job(project, lead, golden, api_for):
    answer = start(api_for(lead), project)
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "queued" and body["job"]["kind"] == "export"
    assert body["params"]["format"] == "jsonl" and body["params"]["splits"] is None


def test_detail_and_list(project, lead, done, api_for):
    client = api_for(lead)
    detail = client.get(f"/api/v1/exports/{done.pk}/").json()
    assert detail["status"] == "succeeded"
    assert detail["records"] == 4
    assert detail["manifest"] == {"records": 4, "splits": detail["counts"]["splits"]}
    assert sum(detail["counts"]["splits"].values()) == 4
    assert detail["datasheet"]["records"] == 4 and detail["datasheet_sha256"]
    names = {f["name"] for f in detail["files"]}
    assert {"train.jsonl", "test.jsonl", "manifest.jsonl", "datasheet.json"} <= names
    later = start(client, project, {"format": "csv"}).json()
    listed = client.get(f"/api/v1/projects/{project.pk}/exports/?page_size=1").json()
    assert [v["id"] for v in listed["results"]] == [later["id"]]
    rest = client.get(listed["next"]).json()
    assert [v["id"] for v in rest["results"]] == [done.pk]


def test_download_zip_and_one_split(project, lead, done, api_for):
    client = api_for(lead)
    response = client.get(f"/api/v1/exports/{done.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="sentiment-v{done.pk}.zip"' in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(body_of(response))) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {"train.jsonl", "test.jsonl", "datasheet.json", "manifest.jsonl"} <= set(names)
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        train_in_zip = archive.read("train.jsonl")

    response = client.get(f"/api/v1/exports/{done.pk}/download/?split=train")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    assert f'filename="sentiment-v{done.pk}-train.jsonl"' in response["Content-Disposition"]
    data = body_of(response)
    assert data == train_in_zip
    entry = done.file(split="train")
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
    files = sorted((f["name"], f["sha256"]) for f in done.files if "split" in f)
    digest = hashlib.sha256(b"".join(f"{n}\0{h}\n".encode() for n, h in files)).hexdigest()
    assert done.sha256 == digest

    assert client.get(f"/api/v1/exports/{done.pk}/download/?split=nope").status_code == 404


def test_409_before_success(project, lead, golden, api_for):
    client = api_for(lead)
    version = start(client, project).json()
    response = client.get(f"/api/v1/exports/{version['id']}/download/")
    assert response.status_code == 409
    assert response.json()["status"] == "queued"
    compare = client.get(f"/api/v1/exports/{version['id']}/compare/{version['id']}/")
    assert compare.status_code == 409


def test_who_may(project, lead, annotator, reviewer, outsider, done, make_project, api_for):
    other_lead_project = make_project(outsider, name="Elsewhere")
    assert other_lead_project.pk
    for user, start_status, read_status in (
        (annotator, 403, 404),
        (reviewer, 403, 404),
        (outsider, 404, 404),
    ):
        client = api_for(user)
        assert start(client, project).status_code == start_status
        assert client.get(f"/api/v1/projects/{project.pk}/exports/").status_code == start_status
        for url in (
            f"/api/v1/exports/{done.pk}/",
            f"/api/v1/exports/{done.pk}/download/",
            f"/api/v1/exports/{done.pk}/download/?split=train",
            f"/api/v1/exports/{done.pk}/compare/{done.pk}/",
        ):
            assert client.get(url).status_code == read_status, (user, url)
    assert api_for(None).get(f"/api/v1/exports/{done.pk}/").status_code == 401
    assert DatasetVersion.objects.count() == 1


def test_compare(project, lead, annotator, second, reviewer, done, annotate, api_for):
    from review.models import GoldRecord

    client = api_for(lead)
    annotate(project, (annotator, "neg"), (second, "neg"), text="a newcomer")
    changed = GoldRecord.objects.filter(project=project).order_by("item_id").first()
    GoldRecord.objects.filter(pk=changed.pk).update(value="neu", revision=2)
    later = start(
        client, project, {"format": "jsonl", "splits": {"train": 0.5, "test": 0.5}}
    ).json()
    assert later["id"] != done.pk
    run_job(later["job"]["id"], job.export_run)
    body = client.get(f"/api/v1/exports/{done.pk}/compare/{later['id']}/").json()
    assert body["counts"] == {"added": 1, "removed": 0, "relabelled": 1, "moved_split": 0}
    assert body["items"]["relabelled"] == [changed.item_id]
    assert body["unchanged"] == 3


def test_media_is_not_served_publicly(done, client):
    entry = done.file(split="train")
    response = client.get(f"/media/{done.folder}{entry['name']}")
    assert response.status_code == 404
