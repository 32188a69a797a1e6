"""Hostile and malformed files (issue 17, part 4): each is refused with its
line and the reason, in bounded memory, never as an internal error, and
leaves nothing imported and no upload behind."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from items.importer import ImportOptions, import_run
from items.models import Item
from items.tasks import import_items
from projects.jobs import job_create, run_job
from projects.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


def refused(job, project) -> None:
    """The job failed for a reason it names, imported nothing and kept no upload."""
    assert job.status == "failed"
    assert "Internal error" not in job.error, job.error
    assert Item.objects.filter(project=project).count() == 0
    assert not default_storage.exists(job.params["file"])


def bad_lines(job) -> dict[int, list[dict]]:
    return {entry["line"]: entry["errors"] for entry in job.result["bad_lines"]}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- nesting ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_a_json_file_nested_deep_is_refused_with_its_item_in_constant_memory(
    celery_worker, upload, project, depth
):
    # 100,000 deep took a worker to 21 GB (the parser's memory grows with
    # the square of the depth); 10,000 deep took 152 MB, then "TypeError".
    body = f'[{{"text": "fine"}},\n{{"text": "deep", "meta": {{"x": {nested(depth)}}}}}]'
    reset_peak_rss(celery_worker.pid)
    before = peak_rss_mb(celery_worker.pid)
    answer, job = upload(body.encode(), name="deep.json")
    refused(job, project)
    assert job.error == (
        "item 2 (line 2 of the file): nested more than 64 levels deep; nothing was imported"
    )
    assert peak_rss_mb(celery_worker.pid) - before < 30


def test_a_jsonl_line_nested_deep_is_a_bad_line(celery_worker, upload, project):
    body = f'{{"text": "fine"}}\n{{"text": "deep", "meta": {{"x": {nested(100_000)}}}}}\n'
    answer, job = upload(body.encode())
    refused(job, project)
    assert bad_lines(job) == {
        2: [{"field": None, "reason": "invalid JSON: nested more than 64 levels deep"}]
    }


@pytest.mark.parametrize("name", ["items.jsonl", "items.json"])
def test_meta_nested_past_the_json_writer_limit_is_refused(celery_worker, upload, project, name):
    # 255 to 1,023 levels: the parser took them, the canonical-JSON writer
    # (254 levels) did not: "Internal error: TypeError".
    row = f'{{"text": "deep", "meta": {{"x": {nested(300)}}}}}'
    body = f"[{row}]" if name.endswith(".json") else row + "\n"
    answer, job = upload(body.encode(), name=name)
    refused(job, project)
    if name.endswith(".json"):
        assert job.error.startswith("item 1 (line 1 of the file): nested more than 64 levels")
    else:
        assert bad_lines(job) == {
            1: [{"field": None, "reason": "invalid JSON: nested more than 64 levels deep"}]
        }


@pytest.mark.parametrize("name", ["items.jsonl", "items.json"])
def test_an_item_nested_64_deep_is_stored_and_read_back_and_65_is_not(
    celery_worker, upload, project, api_for, lead, name
):
    # The item's object is level 1, meta level 2: 62 more levels inside it.
    deepest = {"text": "deepest", "meta": {"x": json.loads(nested(62))}}
    too_deep = {"text": "too deep", "meta": {"x": json.loads(nested(63))}}

    def body(rows):
        if name.endswith(".json"):
            return json.dumps(rows).encode()
        return "".join(json.dumps(r) + "\n" for r in rows).encode()

    answer, job = upload(body([too_deep]), name=name)
    refused(job, project)
    answer, job = upload(body([deepest]), name=name)
    assert (job.status, job.result["created"]) == ("succeeded", 1), job.error
    items = api_for(lead).get(f"/api/v1/projects/{project.pk}/items/").json()["results"]
    assert items[0]["meta"] == deepest["meta"]


def test_json_in_a_csv_cell_stays_a_string_however_deep(celery_worker, upload, project):
    cell = nested(100_000)
    answer, job = upload(f"text,payload\nhello,{cell}\n".encode(), name="items.csv")
    assert job.status == "succeeded", job.error
    assert Item.objects.get(project=project).meta == {"payload": cell}


# --- NUL ----------------------------------------------------------------------------

NUL_ROWS = [
    (
        {"text": "a", "meta": {"source": "x\u0000y"}},
        "meta.source",
        "must not contain NUL characters",
    ),
    ({"text": "a", "meta": {"k\u0000": 1}}, "meta", "its keys must not contain NUL characters"),
    (
        {"text": "a", "meta": {"tags": ["ok", {"deep": "\u0000"}]}},
        "meta.tags[1].deep",
        "must not contain NUL characters",
    ),
    ({"text": "a", "external_id": "id\u0000"}, "external_id", "must not contain NUL characters"),
]


@pytest.mark.parametrize("name", ["items.jsonl", "items.json"])
@pytest.mark.parametrize(("row", "field", "reason"), NUL_ROWS)
def test_a_nul_in_meta_or_external_id_is_a_bad_line_naming_the_field(
    celery_worker, upload, project, name, row, field, reason
):
    rows = [{"text": "fine"}, row]
    if name.endswith(".json"):
        body = json.dumps(rows)
    else:
        body = "".join(json.dumps(r) + "\n" for r in rows)
    answer, job = upload(body.encode(), name=name)
    refused(job, project)
    assert bad_lines(job) == {2: [{"field": field, "reason": reason}]}


def test_a_nul_in_a_csv_cell_is_a_bad_line_and_partial_imports_the_rest(
    celery_worker, upload, project
):
    body = "id,text,source\nr1,fine,web\nr2,fine too,we\x00b\nr\x003,third,web\nr4,last,web\n"
    answer, job = upload(body.encode(), name="items.csv", id_column="id", partial="true")
    assert job.status == "succeeded", job.error
    assert bad_lines(job) == {
        3: [{"field": "meta.source", "reason": "must not contain NUL characters"}],
        4: [{"field": "external_id", "reason": "must not contain NUL characters"}],
    }
    assert sorted(Item.objects.filter(project=project).values_list("external_id", flat=True)) == [
        "r1",
        "r4",
    ]


def test_a_nul_in_a_csv_column_name_fails_the_file(celery_worker, upload, project):
    answer, job = upload(b"text,so\x00urce\nfine,web\n", name="items.csv")
    refused(job, project)
    assert job.error == "line 1: a column name must not contain NUL characters"


# --- lone surrogates and bytes that are not UTF-8 ------------------------------------------

SURROGATES = [
    ('"text": "a\\ud800b"', "\\ud800"),  # ijson stored this as "a?b"
    ('"text": "\\udc00"', "\\udc00"),  # and failed the file on this as "not valid UTF-8"
    ('"text": "\\udc00\\ud800"', "\\udc00"),  # a pair the wrong way round
    ('"text": "a", "meta": {"\\ud83d": 1}', "\\ud83d"),  # in a key
]


@pytest.mark.parametrize(("fields", "escape"), SURROGATES)
def test_a_lone_surrogate_in_a_json_file_is_a_bad_item(
    celery_worker, upload, project, fields, escape
):
    body = f'[{{"text": "\\ud83d\\ude00 a pair is fine"}}, {{{fields}}}, {{"text": "after"}}]'
    answer, job = upload(body.encode(), name="items.json", partial="true")
    assert job.status == "succeeded", job.error
    assert bad_lines(job) == {
        2: [
            {
                "field": None,
                "reason": f"invalid JSON: {escape} is half of a surrogate pair, not a character",
            }
        ]
    }
    assert list(
        Item.objects.filter(project=project).order_by("id").values_list("data__text", flat=True)
    ) == ["😀 a pair is fine", "after"]


@pytest.mark.parametrize(("fields", "escape"), SURROGATES)
def test_a_lone_surrogate_in_a_jsonl_line_is_a_bad_line(
    celery_worker, upload, project, fields, escape
):
    answer, job = upload(f'{{"text": "fine"}}\n{{{fields}}}\n'.encode())
    refused(job, project)
    [error] = bad_lines(job)[2]
    assert error["reason"].startswith("invalid JSON:")


def test_a_surrogate_written_as_utf8_bytes_is_not_utf8_in_every_format(
    celery_worker, upload, project
):
    surrogate = b"\xed\xa0\x80"  # U+D800 encoded as if it were a character
    for name, body, line in [
        ("items.jsonl", b'{"text": "ok"}\n{"text": "' + surrogate + b'"}\n', 2),
        ("items.csv", b"text\nok\n" + surrogate + b"\n", 3),
    ]:
        answer, job = upload(body, name=name)
        refused(job, project)
        assert job.error.startswith(f"line {line}: not valid UTF-8"), job.error
    answer, job = upload(b'[{"text": "' + surrogate + b'"}]', name="items.json")
    refused(job, project)
    assert "UTF" in job.error


def test_bytes_that_are_not_utf8_in_a_csv_are_reported_on_their_line(
    celery_worker, upload, project
):
    body = 'text,source\nfirst,web\n"a cell\nover two lines",web\ncaf\xe9,mail\nlast,web\n'
    answer, job = upload(body.encode("latin-1"), name="items.csv")
    refused(job, project)
    assert job.error == "line 5: not valid UTF-8 (byte 4); save the file as UTF-8"


# --- size ---------------------------------------------------------------------------------


def test_a_jsonl_line_without_an_end_is_refused_in_bounded_memory(celery_worker, upload, project):
    huge = b'{"text": "' + b"x" * (33 * MB) + b'"}\n'
    body = b'{"text": "before"}\n' + huge + b'{"text": "after"}\n'
    answer, job = upload(body, partial="true")
    assert job.status == "succeeded", job.error
    assert bad_lines(job) == {
        2: [{"field": None, "reason": "the line is longer than 33,554,432 bytes"}]
    }
    assert job.result["created"] == 2


def test_a_huge_json_item_and_a_huge_csv_row_fail_the_file(celery_worker, upload, project):
    filler = "x" * (33 * MB)
    answer, job = upload(f'[{{"text": "ok"}},\n{{"text": "{filler}"}}]'.encode(), name="items.json")
    refused(job, project)
    assert job.error == (
        "item 2 (line 2 of the file): larger than 33,554,432 bytes; nothing was imported"
    )
    answer, job = upload(f'text\nok\n"{filler}"\n'.encode(), name="items.csv")
    refused(job, project)
    assert job.error == "line 3: the row is longer than 33,554,432 characters"


@pytest.mark.parametrize("name", ["items.jsonl", "items.json", "items.csv"])
def test_ten_megabytes_of_meta_is_a_bad_line(celery_worker, upload, project, name):
    big = "m" * (10 * MB)
    if name.endswith(".csv"):
        body = f"text,note\nfine,short\nbig,{big}\n"
    else:
        rows = [{"text": "fine"}, {"text": "big", "meta": {"note": big}}]
        body = json.dumps(rows) if name.endswith(".json") else "\n".join(map(json.dumps, rows))
    answer, job = upload(body.encode(), name=name)
    refused(job, project)
    assert bad_lines(job) == {
        2 + name.endswith(".csv"): [
            {"field": "meta", "reason": "is longer than 1,000,000 characters as JSON"}
        ]
    }


def test_a_csv_with_too_many_columns_fails_the_file(celery_worker, upload, project):
    header = ",".join(["text", *(f"c{n}" for n in range(1000))])
    answer, job = upload(f"{header}\n{'x,' * 1000}x\n".encode(), name="items.csv")
    refused(job, project)
    assert job.error == "line 1: 1,001 columns; at most 1,000 are read"


def test_jsonl_with_cr_line_ends_and_a_bom(celery_worker, upload, project):
    answer, job = upload(b'\xef\xbb\xbf{"text": "a"}\r{"text": "b"}\r\n\r{"text": "c"}')
    assert (job.status, job.result["created"]) == ("succeeded", 3), job.error


# --- what the API accepts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'[{"text": "sent as plain text"}]', "text/plain"),
        (b"<items><item>x</item></items>", "application/xml"),
        (b'[{"text": "as bytes"}]', "application/octet-stream"),
    ],
)
def test_a_body_that_is_not_json_is_415_naming_the_accepted_types(
    api_for, lead, project, body, content_type
):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/", body, content_type=content_type
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["detail"]
    assert "multipart/form-data" in answer.json()["detail"]
    assert Job.objects.count() == 0
    assert Item.objects.filter(project=project).count() == 0


def test_a_json_body_with_a_charset_is_accepted(
    celery_worker, api_for, lead, project, wait_for_job
):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/",
        b'[{"text": "a"}]',
        content_type="application/json; charset=utf-8",
    )
    assert answer.status_code == 202
    assert wait_for_job(answer.json()["job"]["id"]).result["created"] == 1


def test_an_uploaded_file_of_an_unknown_type_is_415(api_for, lead, project):
    url = f"/api/v1/projects/{project.pk}/items/"
    xml = SimpleUploadedFile("items.xml", b"<items/>", content_type="application/xml")
    answer = api_for(lead).post(url, {"file": xml}, format="multipart")
    assert answer.status_code == 415
    assert ".jsonl" in answer.json()["detail"]
    assert Job.objects.count() == 0


# --- the upload goes when the job ends for good ---------------------------------------------


def stored_job(project, lead, body: bytes, **options) -> Job:
    name = default_storage.save(f"imports/{project.pk}/test.jsonl", ContentFile(body))
    return job_create(
        project=project,
        kind="import",
        user=lead,
        params={"file": name, "filename": "test.jsonl", "options": options},
    )


def test_the_upload_of_a_job_that_failed_with_an_internal_error_is_removed(project, lead):
    # Options the importer does not know: the job fails inside the worker.
    job = stored_job(project, lead, b'{"text": "a"}\n', format="jsonl", surprise=True)
    import_items(job.pk)  # the task, as a worker runs it
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("Internal error")
    assert not default_storage.exists(job.params["file"])


def test_the_upload_of_a_job_cancelled_before_it_ran_is_removed(project, lead, api_for):
    job = stored_job(project, lead, b'{"text": "a"}\n', **ImportOptions(format="jsonl").__dict__)
    answer = api_for(lead).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert answer.json()["status"] == "cancelled"
    import_items(job.pk)  # the message arrives after the cancel
    assert not default_storage.exists(job.params["file"])
    assert Item.objects.filter(project=project).count() == 0


def test_a_second_delivery_while_the_job_runs_keeps_the_upload(project, lead):
    job = stored_job(project, lead, b'{"text": "a"}\n', **ImportOptions(format="jsonl").__dict__)
    started, second_done = threading.Event(), threading.Event()

    def first_delivery():
        def hold(done, total):
            started.set()
            second_done.wait(30)

        try:
            run_job(job.pk, import_run, listener=hold)
        finally:
            connection.close()

    thread = threading.Thread(target=first_delivery)
    thread.start()
    try:
        assert started.wait(30)
        import_items(job.pk)  # finds the job running elsewhere: does nothing
        assert default_storage.exists(job.params["file"])
    finally:
        second_done.set()
        thread.join()
    job.refresh_from_db()
    assert (job.status, job.result["created"]) == ("succeeded", 1)
