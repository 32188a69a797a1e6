"""Bad input to the queue's writes is a 400 that names the field and the
reason, and nothing is stored: no annotation, no revision, the lease and the
item's slots and the counters as they were (DESIGN.md, the task-type
registry: "a clear 400, never a 500")."""

from __future__ import annotations

import json

import pytest

from annotation.models import Annotation, AnnotationRevision, Assignment
from items.models import Item
from projects.models import ProjectCounter
from tests.conftest import CLASSIFICATION_CONFIG

from .helpers import claim, draft, submit

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        Annotation.objects.count(),
        AnnotationRevision.objects.count(),
        list(Assignment.objects.order_by("pk").values("pk", "state", "draft", "slot")),
        list(Item.objects.order_by("pk").values("pk", "state", "free_slots")),
        sorted(ProjectCounter.objects.values_list("name", "value")),
    )


def errors_of(response) -> dict[str, str]:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return {e["field"]: e["reason"] for e in body["errors"]}


@pytest.fixture
def lease(project, annotator, api_for, add_items):
    add_items(project, 2)
    client = api_for(annotator)
    return client, claim(client, project).json()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("nope", "unknown label"),
        (["pos", "neg"], "single-label"),
        (["pos"], "single-label"),
        (5, "unknown label"),
        (1.5, "unknown label"),
        (True, "unknown label"),
        (None, "unknown label"),
        ({"label": "pos"}, "unknown label"),
        ("POS", "unknown label"),
        ("x" * 200_000, "unknown label"),
    ],
    ids=[
        "unknown-label",
        "two-labels",
        "a-list",
        "int",
        "float",
        "bool",
        "null",
        "object",
        "wrong-case",
        "huge-string",
    ],
)
def test_a_bad_value_is_400_with_the_field_and_nothing_is_stored(value, reason, lease):
    client, assignment = lease
    before = snapshot()

    answer = submit(client, assignment["id"], value)

    errors = errors_of(answer)
    assert reason in errors["value"]
    assert len(answer.content) < 2000  # the reason does not echo a huge value back
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({}, "value", "is required"),
        ({"value": "pos", "label": "neg"}, "label", "unknown field"),
        ({"value": "pos", "annotator": 1}, "annotator", "unknown field"),
        ({"value": "pos", "active_ms": -1}, "active_ms", "milliseconds"),
        ({"value": "pos", "active_ms": "10"}, "active_ms", "milliseconds"),
        ({"value": "pos", "active_ms": 1.5}, "active_ms", "milliseconds"),
        ({"value": "pos", "active_ms": True}, "active_ms", "milliseconds"),
        ({"value": "pos", "active_ms": 10**12}, "active_ms", "milliseconds"),
        ({"value": "pos", "preannotation_shown": "yes"}, "preannotation_shown", "true or false"),
        ({"value": "pos", "preannotation_shown": 1}, "preannotation_shown", "true or false"),
    ],
)
def test_bad_fields_beside_the_value_are_400_and_nothing_is_stored(body, field, reason, lease):
    client, assignment = lease
    before = snapshot()

    answer = client.post(f"/api/v1/assignments/{assignment['id']}/submit/", body, format="json")

    assert reason in errors_of(answer)[field]
    assert snapshot() == before


@pytest.mark.parametrize("raw", [b"[]", b'"pos"', b"{not json", b"", b'{"value": "pos"'], ids=str)
def test_a_body_that_is_not_a_json_object_is_400(raw, lease):
    client, assignment = lease
    before = snapshot()
    answer = client.generic(
        "POST",
        f"/api/v1/assignments/{assignment['id']}/submit/",
        raw,
        content_type="application/json",
    )
    assert answer.status_code == 400, answer.content
    assert isinstance(answer.json()["detail"], str)
    assert snapshot() == before


def test_a_body_over_the_request_limit_is_refused_without_a_500(lease, settings):
    client, assignment = lease
    before = snapshot()
    body = json.dumps({"value": "pos", "pad": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    answer = client.generic(
        "POST",
        f"/api/v1/assignments/{assignment['id']}/submit/",
        body,
        content_type="application/json",
    )
    assert answer.status_code in (400, 413), answer.status_code
    assert snapshot() == before


def test_a_draft_over_its_limit_or_without_a_value_is_400(lease):
    client, assignment = lease
    before = snapshot()
    assert "KB" in errors_of(draft(client, assignment["id"], "x" * (300 * 1024)))["value"]
    missing = client.post(f"/api/v1/assignments/{assignment['id']}/draft/", {}, format="json")
    assert errors_of(missing)["value"] == "is required"
    extra = client.post(
        f"/api/v1/assignments/{assignment['id']}/draft/",
        {"value": "pos", "expires_at": "2100-01-01T00:00:00Z"},
        format="json",
    )
    assert errors_of(extra)["expires_at"] == "unknown field"
    assert snapshot() == before


def test_an_edit_with_an_unknown_field_is_400(lease):
    client, assignment = lease
    annotation = submit(client, assignment["id"], "pos").json()
    before = snapshot()
    answer = client.patch(
        f"/api/v1/annotations/{annotation['id']}/",
        {"value": "neg", "item": 1},
        format="json",
    )
    assert errors_of(answer)["item"] == "unknown field"
    assert snapshot() == before


@pytest.fixture
def multi_label(make_project, lead, annotator, api_for, add_items):
    from projects import services

    project = make_project(
        lead, name="Topics", config={**CLASSIFICATION_CONFIG, "multi_label": True}
    )
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    add_items(project, 1)
    client = api_for(annotator)
    return client, claim(client, project).json()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("pos", "list"),
        (["pos", "pos"], "repeated"),
        (["pos", "nope"], "unknown label"),
        (["pos", 3], "unknown label"),
        (["pos"] * 10_000, "more labels"),
    ],
    ids=["not-a-list", "repeated", "unknown", "not-a-string", "huge-list"],
)
def test_multi_label_values_are_checked_the_same_way(value, reason, multi_label):
    client, assignment = multi_label
    before = snapshot()
    assert reason in errors_of(submit(client, assignment["id"], value))["value"]
    assert snapshot() == before


def test_multi_label_values_are_stored_in_schema_order(multi_label):
    client, assignment = multi_label
    done = submit(client, assignment["id"], ["neu", "pos"])
    assert done.status_code == 201
    assert done.json()["value"] == ["pos", "neu"]
