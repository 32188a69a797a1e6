"""Comparison: consensus makes gold at once (with provenance), no consensus
or an audit draw sends the item to review, policies all and none."""

from __future__ import annotations

import hashlib

import pytest

from items.models import ItemState
from projects import services
from projects.selectors import project_item_counts
from review.models import GoldRecord, GoldRevision, GoldSource
from review.settle import audit_drawn

pytestmark = pytest.mark.django_db


def test_agreement_makes_consensus_gold_with_provenance(project, agreement, lead):
    services.guideline_publish(project=project, user=lead, body="Be kind.", note="v1")
    item = agreement(project)
    assert item.state == ItemState.GOLD and item.outcome == "agreed"
    gold = GoldRecord.objects.get(item=item)
    assert gold.value == "pos" and gold.source == GoldSource.CONSENSUS
    assert not gold.excluded and gold.revision == 1 and gold.reviewer_id is None
    assert sorted(gold.annotation_ids) == sorted(item.annotations.values_list("id", flat=True))
    assert gold.config_version == 1
    assert gold.guideline_version == 1 and gold.min_guideline_version == 1
    assert GoldRevision.objects.filter(gold=gold, number=1, value="pos").count() == 1
    assert project_item_counts(project)["gold"] == 1


def test_disagreement_goes_to_review_without_gold(project, disagreement):
    item = disagreement(project)
    assert item.state == ItemState.REVIEW and item.outcome == "disagreed"
    assert not GoldRecord.objects.filter(item=item).exists()
    assert project_item_counts(project)["review"] == 1


@pytest.fixture
def three(make_project, lead, make_user):
    project = make_project(lead, overlap=3, consensus={"majority": 2})
    people = [make_user(f"maj{i}") for i in range(3)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return project, people


def test_a_majority_of_k_decides(three, annotate):
    project, (a, b, c) = three
    two_of_three = annotate(project, (a, "pos"), (b, "pos"), (c, "neg"), text="mostly pos")
    assert two_of_three.state == ItemState.GOLD
    assert GoldRecord.objects.get(item=two_of_three).value == "pos"
    split = annotate(project, (a, "pos"), (b, "neg"), (c, "neu"), text="all different")
    assert split.state == ItemState.REVIEW and split.outcome == "disagreed"


def test_unanimous_needs_everyone(make_project, lead, make_user, annotate):
    project = make_project(lead, overlap=3)
    people = [make_user(f"un{i}") for i in range(3)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    item = annotate(project, *zip(people, ["pos", "pos", "neg"], strict=True))
    assert item.state == ItemState.REVIEW


def test_policy_all_sends_agreed_items_to_review(project, lead, agreement, disagreement):
    services.project_update(project=project, user=lead, review_policy="all")
    project.refresh_from_db()
    agreed = agreement(project)
    assert agreed.state == ItemState.REVIEW and agreed.outcome == "agreed"
    assert disagreement(project).state == ItemState.REVIEW
    assert not GoldRecord.objects.exists()


def test_policy_all_with_overlap_one(make_project, lead, annotator, annotate):
    project = make_project(lead, overlap=1, review_policy="all")
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    item = annotate(project, (annotator, "neg"))
    assert item.state == ItemState.REVIEW


def test_policy_none_makes_gold_only_by_consensus(project, lead, agreement, disagreement):
    services.project_update(project=project, user=lead, review_policy="none", audit_sample=1)
    project.refresh_from_db()
    assert agreement(project).state == ItemState.GOLD  # no audit without review
    left = disagreement(project)
    assert left.state == ItemState.UNRESOLVED
    counts = project_item_counts(project)
    assert counts["unresolved"] == 1 and counts["review"] == 0
    # Turning review on sends what nobody reviewed to review.
    services.project_update(project=project, user=lead, review_policy="disagreements")
    left.refresh_from_db()
    assert left.state == ItemState.REVIEW
    counts = project_item_counts(project)
    assert counts["unresolved"] == 0 and counts["review"] == 1


def _hashes(n: int) -> list[str]:
    return [hashlib.sha256(f"item {i}".encode()).hexdigest() for i in range(n)]


def test_audit_sample_rate_and_seed(project, lead):
    services.project_update(project=project, user=lead, audit_sample=0.2, audit_seed=7)
    project.refresh_from_db()
    hashes = _hashes(5000)
    drawn = {h for h in hashes if audit_drawn(project, h)}
    assert 0.18 < len(drawn) / len(hashes) < 0.22
    # Deterministic for a seed; another seed draws other items.
    assert drawn == {h for h in hashes if audit_drawn(project, h)}
    services.project_update(project=project, user=lead, audit_seed=8)
    project.refresh_from_db()
    other = {h for h in hashes if audit_drawn(project, h)}
    assert other != drawn and 0.18 < len(other) / len(hashes) < 0.22


def test_audit_sample_zero_and_one(project, lead):
    hashes = _hashes(200)
    assert not any(audit_drawn(project, h) for h in hashes)
    services.project_update(project=project, user=lead, audit_sample=1)
    project.refresh_from_db()
    assert all(audit_drawn(project, h) for h in hashes)


def test_drawn_agreed_items_go_to_review(project, lead, agreement):
    services.project_update(project=project, user=lead, audit_sample=1)
    project.refresh_from_db()
    item = agreement(project)
    assert item.state == ItemState.REVIEW and item.outcome == "agreed"
    assert not GoldRecord.objects.filter(item=item).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"audit_seed": -1},
        {"audit_seed": "7"},
        {"anonymous_review": "yes"},
        {"reason_codes": "guideline_gap"},
        {"reason_codes": [{"key": "Bad Key", "name": "x"}]},
        {"reason_codes": [{"key": "a", "name": "A"}, {"key": "a", "name": "again"}]},
        {"reason_codes": [{"key": "a", "name": ""}]},
        {"reason_codes": [{"key": "a", "name": "A", "colour": "red"}]},
    ],
)
def test_bad_review_settings_get_400(project, lead, api_for, body):
    response = api_for(lead).patch(f"/api/v1/projects/{project.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    field = response.json()["errors"][0]["field"]
    assert field.startswith(next(iter(body)))


def test_review_settings_round_trip(project, lead, api_for):
    body = {
        "audit_seed": 11,
        "anonymous_review": True,
        "reason_codes": [{"key": "gap", "name": "Guideline gap"}, {"key": "slip", "name": "Slip"}],
    }
    response = api_for(lead).patch(f"/api/v1/projects/{project.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in body} == body
