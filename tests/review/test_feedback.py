"""Feedback: the overruled annotator sees the gold value and the reason on
their own page and an unseen count in the workspace; nobody else sees it;
the lead sees how often each annotator was overruled, by reason code."""

from __future__ import annotations

import pytest

from items.models import Item

from .helpers import claim, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def overruled(project, reviewer, disagreement, api_for):
    """The reviewer sides with ``second`` ("neg"): ``annotator`` is overruled."""
    disagreement(project, text="What a <b>great</b> day, not.")
    client = api_for(reviewer)
    body = claim(client, project).json()
    neg = next(a["id"] for a in body["annotations"] if a["value"] == "neg")
    resolve(
        client, body["id"], annotation=neg, reason="Sarcasm: see 3.2", reason_code="guideline_gap"
    )
    return project


def test_the_overruled_annotator_sees_gold_and_reason(overruled, annotator, api_for):
    body = api_for(annotator).get(f"/api/v1/projects/{overruled.pk}/feedback/").json()
    assert body["unseen"] == 1
    (entry,) = body["results"]
    assert entry["your_value"] == "pos" and entry["gold_value"] == "neg"
    assert entry["item"]["external_id"] is None
    assert entry["reason"] == "Sarcasm: see 3.2" and entry["reason_code"] == "guideline_gap"
    assert entry["seen"] is False


def test_the_agreeing_annotator_has_none(overruled, second, api_for):
    body = api_for(second).get(f"/api/v1/projects/{overruled.pk}/feedback/").json()
    assert body == {"unseen": 0, "results": []}


def test_nobody_else_sees_it(overruled, make_user, outsider, reviewer, lead, api_for):
    from projects import services

    third = make_user("third")
    services.membership_set(project=overruled, user=third, roles=["annotator"])
    url = f"/api/v1/projects/{overruled.pk}/feedback/"
    assert api_for(third).get(url).json()["results"] == []
    assert api_for(outsider).get(url).status_code == 404
    assert api_for(reviewer).get(url).status_code == 403
    assert api_for(lead).get(url).status_code == 403
    assert api_for().get(url).status_code in (401, 403)


def test_marking_feedback_seen(overruled, annotator, api_for):
    client = api_for(annotator)
    url = f"/api/v1/projects/{overruled.pk}/feedback/"
    assert client.post(url + "seen/", {"ids": "all"}, format="json").status_code == 400
    assert client.post(url + "seen/", {}, format="json").json() == {"marked": 1}
    assert client.get(url).json()["unseen"] == 0


def test_the_workspace_shows_the_unseen_count_and_the_page_lists_it(
    overruled, annotator, second, web_for
):
    client = web_for(annotator)
    page = client.get(f"/projects/{overruled.pk}/annotate/").content.decode()
    assert 'id="unseen-feedback"' in page and "1 new" in page
    feedback = client.get(f"/projects/{overruled.pk}/feedback/")
    assert feedback.status_code == 200
    html = feedback.content.decode()
    assert "Your answer" in html and "Positive" in html and "Negative" in html
    assert "Sarcasm: see 3.2" in html and "Guideline gap" in html
    # The entry names the item by what a person knows (it has no external
    # id: the head of its text), never by the database's id.
    item = Item.objects.get(project=overruled)
    assert 'Item <span dir="auto">“What a &lt;b&gt;great&lt;/b&gt; day, not.”</span>' in html
    assert f"Item {item.pk}<" not in html
    # The item text is escaped, not rendered.
    assert "<b>great</b>" not in html and "&lt;b&gt;great&lt;/b&gt;" in html
    # Seen now: the count is gone.
    page = client.get(f"/projects/{overruled.pk}/annotate/").content.decode()
    assert 'id="unseen-feedback"' not in page
    other = web_for(second).get(f"/projects/{overruled.pk}/feedback/").content.decode()
    assert "Sarcasm" not in other and 'id="feedback-empty"' in other


def test_feedback_page_refuses_non_annotators(overruled, outsider, reviewer, web_for):
    assert web_for(outsider).get(f"/projects/{overruled.pk}/feedback/").status_code == 404
    assert web_for(reviewer).get(f"/projects/{overruled.pk}/feedback/").status_code == 404


def test_the_lead_sees_overruled_counts_by_reason(overruled, lead, annotator, api_for, web_for):
    stats = api_for(lead).get(f"/api/v1/projects/{overruled.pk}/review/stats/").json()
    (row,) = stats["overruled"]
    assert row["username"] == annotator.username and row["overruled"] == 1
    assert row["annotations"] == 1
    assert row["by_reason"] == [
        {"reason_code": "guideline_gap", "name": "Guideline gap", "count": 1}
    ]
    assert stats["progress"]["gold"] == 1 and stats["progress"]["in_review"] == 0
    assert stats["progress"]["gold_by_source"]["adjudicated"] == 1
    (reviewer_row,) = stats["reviewers"]
    assert reviewer_row["resolved"] == 1 and reviewer_row["resolved_recent"] == 1
    html = web_for(lead).get(f"/projects/{overruled.pk}/gold/").content.decode()
    assert 'id="overruled"' in html and "Guideline gap: 1" in html
    assert 'id="reviewer-throughput"' in html


def test_a_new_adjudication_moves_the_feedback(overruled, reviewer2, annotator, second, api_for):
    from review.models import GoldRecord

    gold = GoldRecord.objects.get(project=overruled)
    api_for(reviewer2).post(
        f"/api/v1/gold/{gold.pk}/adjudicate/",
        {"value": "pos", "reason": "not sarcasm", "revision": 1},
        format="json",
    )
    url = f"/api/v1/projects/{overruled.pk}/feedback/"
    assert api_for(annotator).get(url).json()["results"] == []
    (entry,) = api_for(second).get(url).json()["results"]
    assert entry["gold_value"] == "pos" and entry["reason"] == "not sarcasm"
