"""Resolving a review: every kind of decision, exclusion, bad values (400,
nothing stored), idempotent replay, blind audit, and the gold record's
provenance."""

from __future__ import annotations

import pytest

from items.models import ItemState
from projects import services
from projects.selectors import project_item_counts
from review.models import Feedback, GoldRecord, GoldRevision, GoldSource, Review, ReviewState

from .helpers import blind, claim, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(project, reviewer, disagreement, api_for):
    item = disagreement(project)
    client = api_for(reviewer)
    body = claim(client, project).json()
    by_value = {a["value"]: a["id"] for a in body["annotations"]}
    return client, body, item, by_value


def test_accepting_an_annotation(review, reviewer, annotator, second):
    client, body, item, ids = review
    response = resolve(
        client, body["id"], annotation=ids["neg"], reason="sarcasm", reason_code="annotator_slip"
    )
    assert response.status_code == 201, response.content
    gold = response.json()["gold"]
    assert gold["value"] == "neg" and gold["source"] == "adjudicated" and gold["revision"] == 1
    assert gold["reviewer"] == reviewer.pk and gold["reason"] == "sarcasm"
    assert gold["reason_code"] == "annotator_slip"
    assert sorted(gold["annotations"]) == sorted(ids.values())
    item.refresh_from_db()
    assert item.state == ItemState.GOLD
    assert response.json()["review"]["state"] == ReviewState.RESOLVED
    # The annotator who said "pos" was overruled; the one who said "neg" was not.
    assert list(Feedback.objects.values_list("annotator_id", flat=True)) == [annotator.pk]
    counts = project_item_counts(item.project)
    assert counts["gold"] == 1 and counts["review"] == 0


def test_writing_the_gold_value(review, annotator, second):
    client, body, item, _ = review
    response = resolve(client, body["id"], value="neu", reason="both missed the hedge")
    assert response.status_code == 201
    assert response.json()["gold"]["value"] == "neu"
    assert set(Feedback.objects.values_list("annotator_id", flat=True)) == {
        annotator.pk,
        second.pk,
    }


def test_excluding_an_item(review):
    client, body, item, _ = review
    response = resolve(
        client, body["id"], exclude=True, reason="not English", reason_code="bad_item"
    )
    assert response.status_code == 201
    gold = response.json()["gold"]
    assert gold["excluded"] is True and gold["value"] is None
    item.refresh_from_db()
    assert item.state == ItemState.EXCLUDED
    assert not Feedback.objects.exists()  # nobody was wrong about an unusable item
    assert project_item_counts(item.project)["excluded"] == 1


def test_the_same_decision_again_is_answered_with_the_stored_gold(review):
    client, body, _, ids = review
    first = resolve(client, body["id"], annotation=ids["pos"], reason="literal reading")
    again = resolve(client, body["id"], annotation=ids["pos"], reason="literal reading")
    assert again.status_code == 200 and again.json()["gold"] == first.json()["gold"]
    other = resolve(client, body["id"], value="neg", reason="changed my mind")
    assert other.status_code == 409 and other.json()["gold"]["value"] == "pos"
    assert GoldRevision.objects.count() == 1


BAD = [
    ({"value": "maybe", "reason": "x"}, "value"),
    ({"value": ["pos", "neg"], "reason": "x"}, "value"),
    ({"value": {"label": "pos"}, "reason": "x"}, "value"),
    ({"value": "pos", "annotation": 1, "reason": "x"}, "annotation"),
    ({"reason": "nothing decided"}, "value"),
    ({"annotation": 999999, "reason": "x"}, "annotation"),
    ({"annotation": "abc", "reason": "x"}, "annotation"),
    ({"annotation": True, "reason": "x"}, "annotation"),
    ({"value": "neu"}, "reason"),
    ({"exclude": True}, "reason"),
    ({"exclude": "yes", "reason": "x"}, "exclude"),
    ({"value": "neu", "reason": "x" * 2001}, "reason"),
    ({"value": "neu", "reason": 42}, "reason"),
    ({"value": "neu", "reason": "x", "reason_code": "made_up"}, "reason_code"),
    ({"value": "neu", "reason": "x", "verdict": "final"}, "verdict"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_decisions_get_400_and_store_nothing(review, body, field):
    client, claimed, item, _ = review
    response = resolve(client, claimed["id"], **body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not GoldRecord.objects.exists() and not Feedback.objects.exists()
    item.refresh_from_db()
    assert item.state == ItemState.REVIEW
    assert Review.objects.get(pk=claimed["id"]).state == ReviewState.ACTIVE


def test_a_body_that_is_not_an_object(review):
    client, claimed, _, _ = review
    response = client.post(f"/api/v1/reviews/{claimed['id']}/resolve/", ["pos"], format="json")
    assert response.status_code == 400


def test_accepting_the_agreeing_side_needs_no_reason_only_when_nobody_is_overruled(
    project, lead, reviewer, agreement, api_for
):
    services.project_update(project=project, user=lead, review_policy="all")
    project.refresh_from_db()
    agreement(project)
    client = api_for(reviewer)
    body = claim(client, project).json()
    assert blind(client, body["id"], "pos").status_code == 200
    response = resolve(client, body["id"], value="pos")
    assert response.status_code == 201
    assert response.json()["gold"]["source"] == GoldSource.AUDIT_CONFIRMED


@pytest.fixture
def audit(project, lead, reviewer, agreement, api_for):
    services.project_update(project=project, user=lead, audit_sample=1)
    project.refresh_from_db()
    item = agreement(project)
    client = api_for(reviewer)
    return client, claim(client, project).json(), item


def test_an_audit_item_is_shown_blind_first(audit):
    client, body, _ = audit
    assert body["kind"] == "audit" and body["blind"] is True
    assert body["annotations"] == [] and "pos" not in str(body["annotations"])
    precedents = client.get(f"/api/v1/reviews/{body['id']}/precedents/")
    assert precedents.json() == {"results": []}
    early = resolve(client, body["id"], value="pos")
    assert early.status_code == 409 and early.json()["code"] == "blind_first"
    assert not GoldRecord.objects.exists()
    after = blind(client, body["id"], "neg")
    assert after.status_code == 200
    shown = after.json()
    assert shown["blind"] is False and shown["blind_value"] == "neg"
    assert [a["value"] for a in shown["annotations"]] == ["pos", "pos"]
    # The blind label is kept as given.
    assert blind(client, body["id"], "pos").status_code == 409
    assert blind(client, body["id"], "neg").status_code == 200


def test_bad_blind_labels_get_400(audit):
    client, body, _ = audit
    for value in ("maybe", None, ["pos"], 3):
        response = blind(client, body["id"], value)
        assert response.status_code == 400, (value, response.content)
    assert Review.objects.get(pk=body["id"]).blind_value is None


def test_confirming_an_audit_item(audit):
    client, body, item = audit
    blind(client, body["id"], "pos")
    response = resolve(client, body["id"], value="pos")
    assert response.json()["gold"]["source"] == "audit-confirmed"
    assert not Feedback.objects.exists()


def test_overruling_an_audit_item(audit, annotator, second):
    client, body, item = audit
    blind(client, body["id"], "neg")
    response = resolve(client, body["id"], value="neg", reason="both missed the irony")
    assert response.json()["gold"]["source"] == "adjudicated"
    assert Feedback.objects.count() == 2


def test_a_disagreement_cannot_be_labelled_blind(review):
    client, body, _, _ = review
    response = blind(client, body["id"], "pos")
    assert response.status_code == 409 and response.json()["code"] == "not_audit"


def test_the_gold_record_keeps_versions(
    project, lead, reviewer, annotate, annotator, second, api_for
):
    services.guideline_publish(project=project, user=lead, body="v1", note="v1")
    from django.db import transaction
    from django.utils import timezone

    from annotation.queue.claim import take
    from annotation.queue.submit import annotation_submit
    from items.models import Item
    from items.services import ItemRow, items_create
    from projects.services import project_config

    items_create(
        project=project, rows=[ItemRow({"text": "versions"})], config=project_config(project).config
    )
    item = Item.objects.get(project=project)
    with transaction.atomic():
        first = take(project, annotator, item.pk, timezone.now())
    annotation_submit(assignment=first, user=annotator, value="pos")
    services.guideline_publish(project=project, user=lead, body="v2", note="v2")
    with transaction.atomic():
        later = take(project, second, item.pk, timezone.now())
    annotation_submit(assignment=later, user=second, value="neg")
    services.guideline_publish(project=project, user=lead, body="v3", note="v3")
    client = api_for(reviewer)
    body = claim(client, project).json()
    assert sorted(a["guideline_version"] for a in body["annotations"]) == [1, 2]
    gold = resolve(client, body["id"], value="neg", reason="v2 says so").json()["gold"]
    assert gold["guideline_version"] == 3 and gold["min_guideline_version"] == 1
    assert gold["config_version"] == 1
