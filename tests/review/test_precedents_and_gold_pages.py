"""The "decided before" panel, promoting an adjudication into the
guidelines' draft, and the Gold tab and a gold record's page."""

from __future__ import annotations

import pytest

from projects.models import GuidelineDraft
from review.models import GoldRecord, GoldRevision

from .helpers import claim, resolve

pytestmark = pytest.mark.django_db


def _settle(client, project, value: str, reason: str):
    body = claim(client, project).json()
    return resolve(client, body["id"], value=value, reason=reason).json()["gold"]


@pytest.fixture
def decided(project, reviewer, disagreement, api_for):
    client = api_for(reviewer)
    disagreement(project, text="first pos/neg")
    first = _settle(client, project, "neg", "irony counts as negative")
    disagreement(project, text="a pos/neu", a="pos", b="neu")
    other = _settle(client, project, "neu", "hedged")
    disagreement(project, text="second pos/neg")
    second = _settle(client, project, "pos", "praise wins")
    return client, first, other, second


def test_precedents_list_earlier_decisions_on_the_same_labels(project, decided, disagreement):
    client, first, other, second = decided
    disagreement(project, text="third pos/neg")
    body = claim(client, project).json()
    results = client.get(f"/api/v1/reviews/{body['id']}/precedents/").json()["results"]
    assert [(p["gold"], p["reason"]) for p in results] == [
        (second["id"], "praise wins"),
        (first["id"], "irony counts as negative"),
    ]
    assert results[0]["text"] == "second pos/neg" and results[0]["display"] == "Positive"


def test_a_lead_promotes_an_adjudication_into_the_draft(project, decided, lead, api_for):
    _, first, _, _ = decided
    response = api_for(lead).post(f"/api/v1/gold/{first['id']}/promote/")
    assert response.status_code == 200, response.content
    body = GuidelineDraft.objects.get(project=project).body
    assert "Worked example" in body and "first pos/neg" in body
    assert "irony counts as negative" in body and "Negative" in body
    # Promoting twice appends twice; the draft is the lead's to edit.
    api_for(lead).post(f"/api/v1/gold/{first['id']}/promote/")
    assert GuidelineDraft.objects.get(project=project).body.count("Worked example") == 2


def test_promotion_escapes_markdown(project, reviewer, lead, disagreement, api_for):
    disagreement(project, text="# not a heading [link](javascript:alert(1))")
    gold = _settle(api_for(reviewer), project, "neg", "*loud* <script>")
    api_for(lead).post(f"/api/v1/gold/{gold['id']}/promote/")
    body = GuidelineDraft.objects.get(project=project).body
    assert "> \\# not a heading \\[link\\]\\(javascript:alert\\(1\\)\\)" in body
    assert "\\*loud\\* \\<script\\>" in body


def test_who_may_promote(project, decided, reviewer, annotator, outsider, api_for):
    _, first, _, _ = decided
    url = f"/api/v1/gold/{first['id']}/promote/"
    assert api_for(reviewer).post(url).status_code == 403
    assert api_for(annotator).post(url).status_code == 404
    assert api_for(outsider).post(url).status_code == 404
    assert "Worked example" not in GuidelineDraft.objects.get(project=project).body


def test_consensus_gold_is_not_promoted(project, agreement, lead, api_for):
    gold = GoldRecord.objects.get(item=agreement(project))
    assert api_for(lead).post(f"/api/v1/gold/{gold.pk}/promote/").status_code == 409


def test_gold_tab_and_record_page(project, decided, lead, reviewer, annotator, outsider, web_for):
    _, first, _, _ = decided
    tab = web_for(lead).get(f"/projects/{project.pk}/gold/")
    assert tab.status_code == 200
    html = tab.content.decode()
    assert 'id="review-progress"' in html and 'id="gold-table"' in html
    assert "irony counts as negative" in html
    assert web_for(reviewer).get(f"/projects/{project.pk}/gold/").status_code == 200
    assert web_for(annotator).get(f"/projects/{project.pk}/gold/").status_code == 403
    assert web_for(outsider).get(f"/projects/{project.pk}/gold/").status_code == 404
    page = web_for(lead).get(f"/projects/{project.pk}/gold/{first['id']}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="gold-history"' in html and 'id="promote-form"' in html
    assert 'id="adjudicate-form"' not in html  # a lead without the reviewer role
    html = web_for(reviewer).get(f"/projects/{project.pk}/gold/{first['id']}/").content.decode()
    assert 'id="adjudicate-form"' in html and 'id="promote-form"' not in html
    assert web_for(annotator).get(f"/projects/{project.pk}/gold/{first['id']}/").status_code == 404


def test_adjudicating_from_the_page(project, decided, reviewer2, web_for):
    _, first, _, _ = decided
    client = web_for(reviewer2)
    url = f"/projects/{project.pk}/gold/{first['id']}/adjudicate/"
    missing = client.post(url, {"revision": "1", "value": "pos"})
    assert missing.status_code == 400 and "reason" in missing.content.decode()
    done = client.post(url, {"revision": "1", "value": "pos", "reason": "praise after all"})
    assert done.status_code == 302
    assert GoldRecord.objects.get(pk=first["id"]).value == "pos"
    stale = client.post(url, {"revision": "1", "value": "neu", "reason": "late"})
    assert stale.status_code == 409 and "revision 2" in stale.content.decode()
    assert GoldRevision.objects.filter(gold_id=first["id"]).count() == 2


def test_a_lead_releases_a_review_lease_from_the_gold_tab(
    project, lead, reviewer, disagreement, api_for, web_for
):
    disagreement(project)
    body = claim(api_for(reviewer), project).json()
    html = web_for(lead).get(f"/projects/{project.pk}/gold/").content.decode()
    assert 'id="review-leases"' in html
    response = web_for(lead).post(f"/projects/{project.pk}/reviews/{body['id']}/release/")
    assert response.status_code == 302
    from review.models import Review

    assert Review.objects.get(pk=body["id"]).state == "released"
    assert (
        web_for(reviewer).post(f"/projects/{project.pk}/reviews/{body['id']}/release/").status_code
        == 403
    )


def test_the_item_page_links_its_gold(project, agreement, lead, web_for):
    item = agreement(project)
    gold = GoldRecord.objects.get(item=item)
    html = web_for(lead).get(f"/projects/{project.pk}/items/{item.pk}/").content.decode()
    assert 'id="item-gold"' in html and f"/projects/{project.pk}/gold/{gold.pk}/" in html
