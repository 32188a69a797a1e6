"""Who may do what in review (SECURITY.md A7, A8): an annotator cannot claim
or resolve reviews nor read gold; an outsider gets 404 everywhere; a lead
reads gold and progress but adjudicates only with the reviewer role."""

from __future__ import annotations

import pytest

from review.models import GoldRecord, GoldRevision

from .helpers import adjudicate, claim, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(project, reviewer, disagreement, api_for):
    disagreement(project)
    return claim(api_for(reviewer), project).json()


@pytest.fixture
def gold(project, agreement):
    return GoldRecord.objects.get(item=agreement(project))


def test_claiming_reviews(project, annotator, outsider, lead, api_for):
    assert claim(api_for(annotator), project).status_code == 403
    assert claim(api_for(lead), project).status_code == 403
    assert claim(api_for(outsider), project).status_code == 404
    assert claim(api_for(), project).status_code in (401, 403)


@pytest.mark.parametrize("who", ["annotator", "second", "outsider", "lead", "reviewer2"])
def test_only_its_reviewer_reads_or_resolves_a_review(claimed, request, api_for, who):
    client = api_for(request.getfixturevalue(who))
    rid = claimed["id"]
    assert client.get(f"/api/v1/reviews/{rid}/").status_code == 404
    assert client.get(f"/api/v1/reviews/{rid}/precedents/").status_code == 404
    assert resolve(client, rid, value="pos", reason="mine now").status_code == 404
    assert client.post(f"/api/v1/reviews/{rid}/release/").status_code == 404
    assert not GoldRecord.objects.exists()


def test_a_reviewer_who_lost_the_role_cannot_resolve(project, claimed, reviewer, api_for):
    from projects import services

    services.membership_set(project=project, user=reviewer, roles=["annotator"])
    response = resolve(api_for(reviewer), claimed["id"], value="pos", reason="x")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [
        ("annotator", 404, 404),
        ("outsider", 404, 404),
        ("lead", 200, 403),
        ("reviewer", 200, 200),
    ],
)
def test_gold_access(gold, request, api_for, who, read, write):
    client = api_for(request.getfixturevalue(who))
    assert client.get(f"/api/v1/gold/{gold.pk}/").status_code == read
    assert client.get(f"/api/v1/gold/{gold.pk}/history/").status_code == read
    response = adjudicate(client, gold.pk, value="neu", reason="why not", revision=1)
    assert response.status_code == write
    assert GoldRevision.objects.count() == (2 if write == 200 else 1)


def test_gold_list(project, gold, annotator, lead, reviewer, outsider, api_for):
    url = f"/api/v1/projects/{project.pk}/gold/"
    assert [g["id"] for g in api_for(lead).get(url).json()["results"]] == [gold.pk]
    assert api_for(reviewer).get(url + "?source=consensus").json()["results"][0]["value"] == "pos"
    assert api_for(reviewer).get(url + "?source=adjudicated").json()["results"] == []
    assert api_for(annotator).get(url).status_code == 403
    assert api_for(outsider).get(url).status_code == 404


def test_review_stats_are_for_leads(project, annotator, reviewer, outsider, api_for):
    url = f"/api/v1/projects/{project.pk}/review/stats/"
    assert api_for(annotator).get(url).status_code == 403
    assert api_for(reviewer).get(url).status_code == 403
    assert api_for(outsider).get(url).status_code == 404


def test_a_gold_of_another_project_is_404(gold, make_project, make_user, api_for):
    from projects import services

    elsewhere = make_user("elsewhere")
    other = make_project(elsewhere, name="Other")
    services.membership_set(project=other, user=elsewhere, roles=["lead", "reviewer"])
    assert api_for(elsewhere).get(f"/api/v1/gold/{gold.pk}/").status_code == 404
    assert (
        adjudicate(api_for(elsewhere), gold.pk, value="neu", reason="x", revision=1).status_code
        == 404
    )


def test_an_archived_project_refuses_review_writes(project, claimed, lead, reviewer, api_for):
    from projects import services

    services.project_archive(project=project, user=lead)
    response = resolve(api_for(reviewer), claimed["id"], value="pos", reason="x")
    assert response.status_code == 409
    assert claim(api_for(reviewer), project).status_code == 409
    assert not GoldRecord.objects.exists()


@pytest.mark.parametrize("bad", ["0", "99999999999999999999", "-3"])
def test_out_of_range_ids(reviewer, api_for, bad):
    client = api_for(reviewer)
    for url in (f"/api/v1/reviews/{bad}/", f"/api/v1/gold/{bad}/"):
        assert client.get(url).status_code == 404
