"""Bad files: a clear reason with the line number, and nothing imported."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from items.models import Item

pytestmark = pytest.mark.django_db(transaction=True)


def assert_nothing_imported(project):
    assert Item.objects.filter(project=project).count() == 0


def test_a_malformed_json_line_fails_the_file_with_its_line_number(celery_worker, upload, project):
    body = (
        b'{"text": "ok"}\n{"text": "broken"\n{"text": 3}\n["not", "an object"]\n{"txt": "typo"}\n'
    )
    answer, job = upload(body)
    assert job.status == "failed"
    assert "4 lines are bad" in job.error
    lines = {entry["line"]: entry["errors"] for entry in job.result["bad_lines"]}
    assert lines[2][0]["reason"].startswith("invalid JSON")
    assert lines[3] == [{"field": "text", "reason": "must be a string"}]
    assert lines[4] == [{"field": None, "reason": "must be a JSON object"}]
    assert {"field": "text", "reason": "is required"} in lines[5]
    assert_nothing_imported(project)


def test_partial_imports_the_good_lines_and_reports_the_bad(celery_worker, upload, project):
    body = b'{"text": "good"}\n{"text": ""}\n{"text": "also good"}\n'
    answer, job = upload(body, partial="true")
    assert job.status == "succeeded"
    assert (job.result["created"], job.result["bad"]) == (2, 1)
    assert job.result["bad_lines"] == [
        {"line": 2, "errors": [{"field": "text", "reason": "must not be empty"}]}
    ]


def test_a_missing_csv_column_names_the_columns(celery_worker, upload, project):
    answer, job = upload(b"body,lang\nhello,en\n", name="items.csv")
    assert job.status == "failed"
    assert job.error == "no column 'text'; the columns are: body, lang"
    assert_nothing_imported(project)


def test_a_csv_row_with_the_wrong_number_of_fields(celery_worker, upload, project):
    answer, job = upload(b"text,lang\nhello,en\nextra,field,here\n", name="items.csv")
    assert job.status == "failed"
    assert job.result["bad_lines"] == [
        {"line": 3, "errors": [{"field": None, "reason": "expected 2 fields, got 3"}]}
    ]
    assert_nothing_imported(project)


def test_non_utf8_bytes_fail_with_the_line(celery_worker, upload, project):
    answer, job = upload('{"text": "ok"}\n{"text": "caf\xe9"}\n'.encode("latin-1"))
    assert job.status == "failed"
    assert job.error.startswith("line 2: not valid UTF-8")
    assert_nothing_imported(project)


def test_a_file_without_items(celery_worker, upload, project):
    answer, job = upload(b"\n\n   \n")
    assert job.status == "failed"
    assert job.error == "The file holds no items."


def test_an_empty_upload_is_a_400_at_once(api_for, lead, project, db):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/",
        {"file": SimpleUploadedFile("x.jsonl", b"")},
        format="multipart",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"field": "file", "reason": "is empty"}]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the body is empty: send a JSON array of items"),
        (b'{"text": "x"}', "must be a JSON array of items"),
    ],
)
def test_a_json_body_that_is_not_an_array(api_for, lead, project, body, reason):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/", body, content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"field": "body", "reason": reason}]


def test_unknown_options_and_formats_are_400(api_for, lead, project):
    api = api_for(lead)
    url = f"/api/v1/projects/{project.pk}/items/"
    bad_format = api.post(
        url, {"file": SimpleUploadedFile("x.jsonl", b"{}"), "format": "xml"}, format="multipart"
    )
    assert bad_format.status_code == 400
    assert bad_format.json()["errors"] == [
        {"field": "format", "reason": "must be one of jsonl, json, csv, tsv"}
    ]
    unknown = api.post(
        url, {"file": SimpleUploadedFile("x.jsonl", b"{}"), "dedupe": "no"}, format="multipart"
    )
    assert unknown.json()["errors"] == [{"field": "dedupe", "reason": "unknown field"}]


def test_an_oversized_upload_is_refused_before_it_is_read(api_for, lead, project):
    body = json.dumps([{"text": "x" * 100}] * 100).encode()
    with override_settings(ACCORD_MAX_UPLOAD_BYTES=1000):
        answer = api_for(lead).post(
            f"/api/v1/projects/{project.pk}/items/", body, content_type="application/json"
        )
    assert answer.status_code == 413
    assert "larger than the limit of 1000 bytes" in answer.json()["detail"]
    assert_nothing_imported(project)


def test_only_leads_import(api_for, annotator, outsider, project):
    url = f"/api/v1/projects/{project.pk}/items/"
    assert api_for(annotator).post(url, [{"text": "x"}], format="json").status_code == 403
    assert api_for(outsider).post(url, [{"text": "x"}], format="json").status_code == 404
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_an_unclear_partial_flag_is_400_not_a_guess(api_for, lead, project):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/?partial=maybe", [{"text": "x"}], format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"field": "partial", "reason": "must be true or false"}]
