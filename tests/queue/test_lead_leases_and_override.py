"""The lead's side of the queue: who holds what (leases), giving a lease
back, items that can no longer reach their overlap (unfinishable) and the
override that settles them, and every revision of an item (DESIGN.md, "The
queue")."""

from __future__ import annotations

import pytest

from annotation.models import Assignment
from items.models import Item
from projects.counters import counters_for

from .helpers import claim, draft, queue_violations, skip, submit

pytestmark = pytest.mark.django_db


def url(project, rest: str) -> str:
    return f"/api/v1/projects/{project.pk}/{rest}"


def test_the_lead_sees_the_leases_and_releases_one_once(
    project, lead, annotator, api_for, add_items
):
    add_items(project, 2)
    a, boss = api_for(annotator), api_for(lead)
    lease = claim(a, project).json()
    draft(a, lease["id"], "neg")

    listed = boss.get(url(project, "leases/")).json()
    assert [(r["id"], r["item"], r["username"]) for r in listed] == [
        (lease["id"], lease["item"]["id"], annotator.username)
    ]
    assert listed[0]["draft_saved_at"] is not None
    assert "draft" not in listed[0]

    released = boss.post(url(project, f"leases/{lease['id']}/release/"))
    again = boss.post(url(project, f"leases/{lease['id']}/release/"))

    assert (released.json(), again.json()) == ({"released": True}, {"released": False})
    assert Assignment.objects.get(pk=lease["id"]).state == "released"
    assert Item.objects.get(pk=lease["item"]["id"]).free_slots == 2
    assert boss.get(url(project, "leases/")).json() == []
    # A release does not exclude the annotator: the item comes back to them.
    back = claim(a, project).json()
    assert back["item"]["id"] == lease["item"]["id"] and back["draft"] == "neg"
    assert queue_violations(project) == []


def test_release_of_an_unknown_or_foreign_lease_is_404(
    project, lead, outsider, make_project, annotator, api_for, add_items
):
    from projects import services

    theirs = make_project(outsider, name="Theirs")
    services.membership_set(project=theirs, user=annotator, roles=["annotator"])
    add_items(theirs, 1)
    foreign = claim(api_for(annotator), theirs).json()
    boss = api_for(lead)
    assert boss.post(url(project, f"leases/{foreign['id']}/release/")).status_code == 404
    assert boss.post(url(project, f"leases/{10**9}/release/")).status_code == 404
    assert Assignment.objects.get(pk=foreign["id"]).state == "active"


@pytest.fixture
def stuck_item(make_project, lead, annotator, annotators, api_for, add_items):
    """Overlap 2, three annotators: one submitted the item, the two others
    skipped it, so it can never get its second annotation."""
    from projects import services

    project = make_project(lead)
    people = [annotator, *annotators[:2]]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    add_items(project, 2)
    first = claim(api_for(annotator), project).json()
    submit(api_for(annotator), first["id"], "pos")
    for person in annotators[:2]:
        client = api_for(person)
        lease = claim(client, project).json()
        assert lease["item"]["id"] == first["item"]["id"]
        skip(client, lease["id"], "off topic")
    return project, Item.objects.get(pk=first["item"]["id"])


def test_an_item_that_cannot_reach_its_overlap_is_listed_as_unfinishable(stuck_item, lead, api_for):
    project, item = stuck_item
    listed = api_for(lead).get(url(project, "unfinishable/")).json()
    assert listed["annotators"] == 3 and listed["overlap"] == 2
    assert listed["too_few_annotators"] is False
    assert [(i["id"], i["submitted"], i["eligible_annotators"]) for i in listed["items"]] == [
        (item.pk, 1, 0)
    ]


def test_the_override_compares_it_with_the_annotations_it_has(stuck_item, lead, api_for):
    project, item = stuck_item
    boss = api_for(lead)

    answer = boss.post(
        url(project, f"items/{item.pk}/override/"), {"action": "compare"}, format="json"
    )

    assert answer.status_code == 200, answer.content
    assert answer.json() == {"id": item.pk, "state": "gold", "outcome": "agreed"}
    item.refresh_from_db()
    assert (item.overlap, item.state) == (1, "gold")
    assert boss.get(url(project, "unfinishable/")).json()["items"] == []
    again = boss.post(
        url(project, f"items/{item.pk}/override/"), {"action": "compare"}, format="json"
    )
    assert again.status_code == 409
    assert queue_violations(project) == []


def test_the_override_excludes_it_and_lets_its_leases_go(
    project, lead, annotator, api_for, add_items
):
    add_items(project, 2)
    lease = claim(api_for(annotator), project).json()
    boss = api_for(lead)
    item_id = lease["item"]["id"]
    before = counters_for([project.pk])[project.pk]

    answer = boss.post(
        url(project, f"items/{item_id}/override/"), {"action": "exclude"}, format="json"
    )

    assert answer.status_code == 200
    assert answer.json()["state"] == "excluded"
    assert Assignment.objects.get(pk=lease["id"]).state == "released"
    after = counters_for([project.pk])[project.pk]
    assert after["items:open"] == before["items:open"] - 1
    assert after["items:excluded"] == 1
    # The annotator's late submit on an excluded item is refused.
    assert submit(api_for(annotator), lease["id"], "pos").status_code == 409


@pytest.mark.parametrize(("body", "status"), [({"action": "delete"}, 400), ({}, 400)])
def test_the_override_needs_a_known_action(body, status, project, lead, api_for, add_items):
    add_items(project, 1)
    item = Item.objects.get()
    answer = api_for(lead).post(url(project, f"items/{item.pk}/override/"), body, format="json")
    assert answer.status_code == status
    assert answer.json()["errors"][0]["field"] == "action"
    assert Item.objects.get().state == "open"


def test_comparing_an_item_without_annotations_is_409(project, lead, api_for, add_items):
    add_items(project, 1)
    item = Item.objects.get()
    answer = api_for(lead).post(
        url(project, f"items/{item.pk}/override/"), {"action": "compare"}, format="json"
    )
    assert answer.status_code == 409
    assert Item.objects.get().state == "open"


def test_a_project_with_fewer_annotators_than_its_overlap_says_so(
    make_project, lead, annotator, api_for, add_items
):
    from projects import services

    project = make_project(lead, overlap=3)
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    listed = api_for(lead).get(url(project, "unfinishable/")).json()
    assert listed["too_few_annotators"] is True


def test_the_lead_sees_every_revision_of_an_item(
    project, lead, annotator, annotators, api_for, add_items
):
    add_items(project, 1)
    a, b = api_for(annotator), api_for(annotators[0])
    mine = submit(a, claim(a, project).json()["id"], "pos").json()
    a.patch(f"/api/v1/annotations/{mine['id']}/", {"value": "neu"}, format="json")
    submit(b, claim(b, project).json()["id"], "neg")

    history = api_for(lead).get(url(project, f"items/{mine['item']['id']}/revisions/")).json()

    assert [(r["annotator"], r["kind"], r["value"]) for r in history] == [
        (annotator.pk, "submit", "pos"),
        (annotator.pk, "edit", "neu"),
        (annotators[0].pk, "submit", "neg"),
    ]
