"""The review queue: leases like annotation, never a reviewer's own item,
never two reviewers on one item, priority then age, clear empty states."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from items.models import Item
from projects import services
from review.models import Review, ReviewState

from .helpers import claim, resolve

pytestmark = pytest.mark.django_db


def test_a_reviewer_gets_a_disagreement_with_its_annotations(
    project, reviewer, annotator, second, disagreement, api_for
):
    item = disagreement(project, text="ambiguous remark")
    response = claim(api_for(reviewer), project)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["item"]["id"] == item.pk and body["item"]["data"]["text"] == "ambiguous remark"
    assert body["kind"] == "disagreement" and body["blind"] is False
    assert body["resumed"] is False
    shown = {(a["annotator"]["username"], a["value"]) for a in body["annotations"]}
    assert shown == {(annotator.username, "pos"), (second.username, "neg")}
    assert body["disputed"] == ["neg", "pos"]
    assert all(a["guideline_version"] is None and "active_ms" in a for a in body["annotations"])


def test_anonymous_review_hides_who_annotated(
    project, lead, reviewer, annotator, disagreement, api_for
):
    services.project_update(project=project, user=lead, anonymous_review=True)
    disagreement(project)
    body = claim(api_for(reviewer), project).json()
    assert [a["label"] for a in body["annotations"]] == ["Annotator A", "Annotator B"]
    assert all(a["annotator"] is None for a in body["annotations"])
    assert "username" not in str(body)


def test_claim_again_resumes_the_same_review(project, reviewer, disagreement, api_for):
    disagreement(project, text="one")
    disagreement(project, text="two")
    client = api_for(reviewer)
    first = claim(client, project).json()
    again = claim(client, project).json()
    assert again["id"] == first["id"] and again["resumed"] is True
    assert Review.objects.filter(reviewer=reviewer, state=ReviewState.ACTIVE).count() == 1


def test_nothing_to_review(project, reviewer, api_for):
    response = claim(api_for(reviewer), project)
    assert response.status_code == 204 and response["Accord-Reason"] == "nothing-left"


def test_all_leased_says_when_to_come_back(project, reviewer, reviewer2, disagreement, api_for):
    disagreement(project)
    assert claim(api_for(reviewer), project).status_code == 200
    response = claim(api_for(reviewer2), project)
    assert response.status_code == 204 and response["Accord-Reason"] == "all-leased"
    assert 0 < int(response["Retry-After"]) <= project.lease_seconds + 1


def test_a_reviewer_never_gets_an_item_they_annotated(
    project, annotator, second, reviewer, annotate, api_for
):
    services.membership_set(project=project, user=reviewer, roles=["reviewer", "annotator"])
    own = annotate(project, (reviewer, "pos"), (annotator, "neg"), text="reviewer annotated")
    client = api_for(reviewer)
    assert claim(client, project).status_code == 204
    other = annotate(project, (annotator, "pos"), (second, "neg"), text="not theirs")
    body = claim(client, project).json()
    assert body["item"]["id"] == other.pk != own.pk


def test_order_is_priority_then_age(project, reviewer, disagreement, api_for):
    old = disagreement(project, text="old")
    urgent = disagreement(project, text="urgent")
    newest = disagreement(project, text="newest")
    Item.objects.filter(pk=urgent.pk).update(priority=5)
    client = api_for(reviewer)
    order = []
    for _ in range(3):
        body = claim(client, project).json()
        order.append(body["item"]["id"])
        resolve(client, body["id"], annotation=body["annotations"][0]["id"], reason="first")
    assert order == [urgent.pk, old.pk, newest.pk]


def test_an_ended_lease_goes_to_the_next_reviewer(
    project, reviewer, reviewer2, disagreement, api_for
):
    disagreement(project)
    first = claim(api_for(reviewer), project).json()
    Review.objects.filter(pk=first["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    second = claim(api_for(reviewer2), project).json()
    assert second["item"]["id"] == first["item"]["id"] and second["id"] != first["id"]
    assert Review.objects.get(pk=first["id"]).state == ReviewState.EXPIRED
    # The first reviewer's late decision is refused: the item is someone else's now.
    late = resolve(
        api_for(reviewer), first["id"], annotation=first["annotations"][0]["id"], reason="late"
    )
    assert late.status_code == 409 and late.json()["code"] == "taken"


def test_a_late_resolve_is_accepted_while_nobody_else_took_it(
    project, reviewer, disagreement, api_for
):
    disagreement(project)
    client = api_for(reviewer)
    body = claim(client, project).json()
    Review.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = resolve(client, body["id"], value="neu", reason="neither is right")
    assert response.status_code == 201, response.content


def test_giving_a_review_back(project, reviewer, reviewer2, disagreement, api_for):
    disagreement(project)
    body = claim(api_for(reviewer), project).json()
    response = api_for(reviewer).post(f"/api/v1/reviews/{body['id']}/release/")
    assert response.json() == {"released": True}
    assert claim(api_for(reviewer2), project).json()["item"]["id"] == body["item"]["id"]


def test_a_lead_sees_and_releases_review_leases(project, lead, reviewer, disagreement, api_for):
    disagreement(project)
    body = claim(api_for(reviewer), project).json()
    stats = api_for(lead).get(f"/api/v1/projects/{project.pk}/review/stats/").json()
    assert [r["id"] for r in stats["active_reviews"]] == [body["id"]]
    url = f"/api/v1/projects/{project.pk}/reviews/{body['id']}/release/"
    assert api_for(lead).post(url).json() == {"released": True}
    assert api_for(lead).post(url).json() == {"released": False}


@pytest.mark.django_db(transaction=True)
def test_concurrent_reviewers_never_share_an_item(make_user, lead, make_project, annotate):
    project = make_project(lead, name="Concurrent review")
    people = [make_user(f"a{i}") for i in range(2)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    for n in range(6):
        annotate(project, (people[0], "pos"), (people[1], "neg"), text=f"disputed {n}")
    reviewers = [make_user(f"r{i}") for i in range(8)]
    for person in reviewers:
        services.membership_set(project=project, user=person, roles=["reviewer"])
    from annotation.queue.claim import NothingLeft
    from review.leases import review_claim

    got: dict[int, int | None] = {}
    barrier = threading.Barrier(len(reviewers))

    def work(person):
        barrier.wait()
        try:
            got[person.pk] = review_claim(project=project, user=person).review.item_id
        except NothingLeft:
            got[person.pk] = None
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(p,)) for p in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(reviewers), "every reviewer gets an item or nothing-left, no error"
    items = [i for i in got.values() if i is not None]
    assert len(items) == 6 and len(set(items)) == 6
    assert Review.objects.filter(project=project, state=ReviewState.ACTIVE).count() == 6


def test_an_item_given_back_comes_after_the_others(project, reviewer, disagreement, api_for):
    first = disagreement(project, text="first")
    second = disagreement(project, text="second")
    client = api_for(reviewer)
    body = claim(client, project).json()
    assert body["item"]["id"] == first.pk
    client.post(f"/api/v1/reviews/{body['id']}/release/")
    stale = resolve(client, body["id"], value="neu", reason="from an old tab")
    assert stale.status_code == 409 and stale.json()["code"] == "released"
    nxt = claim(client, project).json()
    assert nxt["item"]["id"] == second.pk
    resolve(client, nxt["id"], value="neu", reason="settled")
    # With nothing else left, the given-back item comes round again.
    assert claim(client, project).json()["item"]["id"] == first.pk
