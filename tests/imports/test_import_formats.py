"""Every import format through the API and a real worker, with the awkward
inputs real files have."""

from __future__ import annotations

import json

import pytest

from items.models import Item

pytestmark = pytest.mark.django_db(transaction=True)

AWKWARD = [
    "plain",
    "עברית ומילים בכיוון ימין לשמאל",
    "emoji 👩🏽‍💻 and combining cafe\u0301",
    "  leading and trailing spaces  ",
    'tab\tand "quotes", commas',
    "line one\nline two\r\nline three",
]


def texts(project) -> list[str]:
    return list(
        Item.objects.filter(project=project).order_by("id").values_list("data__text", flat=True)
    )


def test_jsonl_with_bom_and_crlf_keeps_text_byte_exact(celery_worker, upload, project):
    body = (
        "\ufeff"
        + "\r\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in AWKWARD)
        + "\r\n"
    )
    answer, job = upload(body.encode("utf-8"))
    assert job.status == "succeeded", job.error
    assert job.result["created"] == len(AWKWARD)
    assert texts(project) == AWKWARD


def test_json_array_streams_items_with_meta_and_ids(celery_worker, upload, project):
    rows = [{"text": t, "external_id": i, "meta": {"n": i}} for i, t in enumerate(AWKWARD)]
    answer, job = upload(json.dumps(rows, ensure_ascii=False).encode(), name="items.json")
    assert job.status == "succeeded", job.error
    items = list(
        Item.objects.filter(project=project).order_by("id").values_list("external_id", "meta")
    )
    assert items == [(str(i), {"n": i}) for i in range(len(AWKWARD))]


def test_json_array_in_the_request_body(celery_worker, api_for, lead, project, wait_for_job):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/", [{"text": "a"}, {"text": "b"}], format="json"
    )
    assert answer.status_code == 202, answer.content
    assert wait_for_job(answer.json()["job"]["id"]).result["created"] == 2
    assert texts(project) == ["a", "b"]


def test_csv_with_bom_multiline_cells_a_long_field_and_meta_columns(celery_worker, upload, project):
    long_text = "x" * 200_000  # beyond Python's default 131,072-character CSV field limit
    body = (
        "\ufeffid,text,source\r\n"
        'a1,"line one\r\nline two, with comma",web\r\n'
        f"a2,{long_text},mail\r\n"
        'a3,"עברית 👋 ""quoted""",web\r\n'
    )
    answer, job = upload(body.encode("utf-8"), name="items.csv", id_column="id")
    assert job.status == "succeeded", (job.error, job.result)
    items = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("external_id", "data", "meta")
    )
    assert items == [
        ("a1", {"text": "line one\r\nline two, with comma"}, {"source": "web"}),
        ("a2", {"text": long_text}, {"source": "mail"}),
        ("a3", {"text": 'עברית 👋 "quoted"'}, {"source": "web"}),
    ]


def test_tsv_with_a_chosen_text_column(celery_worker, upload, project):
    body = "body\tlang\nhello\ten\nbonjour\tfr\n"
    answer, job = upload(body.encode(), name="items.tsv", text_column="body")
    assert job.status == "succeeded", job.error
    assert list(
        Item.objects.filter(project=project).order_by("id").values_list("data", "meta")
    ) == [
        ({"text": "hello"}, {"lang": "en"}),
        ({"text": "bonjour"}, {"lang": "fr"}),
    ]
