"""Skip ("never show me this again", with a reason) and later ("give it back
for now") are different: a skipped item never comes back to its annotator,
a deferred one comes back after the rest of their queue (DESIGN.md, "The
queue")."""

from __future__ import annotations

import pytest

from annotation.models import Assignment
from annotation.queue.release import leases_expire
from annotation.selectors import annotator_counts
from items.models import Item

from .helpers import claim, later, queue_violations, skip, submit

pytestmark = pytest.mark.django_db


def work_through(client, project) -> list[int]:
    """Claim and submit until nothing is left; the item ids in order."""
    seen = []
    while (answer := claim(client, project)).status_code == 200:
        seen.append(answer.json()["item"]["id"])
        assert submit(client, answer.json()["id"], "pos").status_code == 201
    assert answer["Accord-Reason"] == "nothing-left"
    return seen


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 7}])
def test_a_skip_needs_a_reason_and_changes_nothing_without_one(
    body, project, annotator, api_for, add_items
):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()

    refused = a.post(f"/api/v1/assignments/{lease['id']}/skip/", body, format="json")

    assert refused.status_code == 400, refused.content
    assert [e["field"] for e in refused.json()["errors"]] == ["reason"]
    assert Assignment.objects.get(pk=lease["id"]).state == "active"
    assert Item.objects.get().free_slots == 1


def test_a_long_reason_is_refused(project, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()
    refused = skip(a, lease["id"], "x" * 501)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "reason"


def test_a_skipped_item_is_never_offered_again_even_when_its_slot_reopens(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 3)
    a, b = api_for(annotator), api_for(annotators[0])
    lease = claim(a, project).json()
    skipped_item = lease["item"]["id"]

    done = skip(a, lease["id"], "  I cannot read this language  ")

    assert done.status_code == 200, done.content
    assert done.json()["state"] == "skipped"
    row = Assignment.objects.get(pk=lease["id"])
    assert (row.state, row.skip_reason) == ("skipped", "I cannot read this language")
    assert Item.objects.get(pk=skipped_item).free_slots == 2
    # Someone else takes the item and walks away: its slot reopens.
    other = claim(b, project).json()
    assert other["item"]["id"] == skipped_item
    Assignment.objects.filter(pk=other["id"]).update(expires_at=row.leased_at)
    leases_expire()
    seen = work_through(a, project)
    assert skipped_item not in seen
    assert len(seen) == 2
    assert queue_violations(project) == []


def test_skips_are_counted_per_annotator_for_the_lead(project, lead, annotator, api_for, add_items):
    add_items(project, 3)
    a = api_for(annotator)
    for _ in range(2):
        skip(a, claim(a, project).json()["id"])
    counts = {row["username"]: row for row in annotator_counts(project)}
    assert counts[annotator.username]["skips"] == 2
    stats = api_for(lead).get(f"/api/v1/projects/{project.pk}/stats/").json()
    mine = next(r for r in stats["annotations_per_annotator"] if r["user"] == annotator.pk)
    assert mine["skips"] == 2


def test_skipping_twice_is_one_skip(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    assert skip(a, lease["id"]).status_code == 200
    again = skip(a, lease["id"], "another reason")
    assert again.status_code == 200
    assert Assignment.objects.get(pk=lease["id"]).skip_reason == "not sure what this is"
    assert annotator_counts(project)[0]["skips"] == 1


def test_later_gives_the_item_back_after_the_rest(project, annotator, api_for, add_items):
    add_items(project, 4)
    a = api_for(annotator)
    first = claim(a, project).json()
    deferred = first["item"]["id"]

    done = later(a, first["id"])

    assert done.status_code == 200, done.content
    assert done.json()["state"] == "deferred"
    assert Item.objects.get(pk=deferred).free_slots == 2
    seen = work_through(a, project)
    assert len(seen) == 4
    assert seen[-1] == deferred
    assert deferred not in seen[:-1]
    assert queue_violations(project) == []


def test_deferred_items_come_back_in_the_order_they_were_deferred(
    project, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    order = []
    for _ in range(3):
        lease = claim(a, project).json()
        order.append(lease["item"]["id"])
        later(a, lease["id"])
    assert work_through(a, project) == order


def test_a_deferred_item_meanwhile_filled_by_others_does_not_come_back(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    later(a, lease["id"])
    for person in annotators[:2]:
        other = api_for(person)
        got = claim(other, project).json()
        assert got["item"]["id"] == lease["item"]["id"]
        submit(other, got["id"], "neg")
    seen = work_through(a, project)
    assert lease["item"]["id"] not in seen
    assert len(seen) == 1


def test_later_on_a_lease_that_ended_is_409(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    assert submit(a, lease["id"], "pos").status_code == 201
    refused = later(a, lease["id"])
    assert refused.status_code == 409
    assert Assignment.objects.get(pk=lease["id"]).state == "submitted"


def test_skip_after_submit_is_409(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    submit(a, lease["id"], "pos")
    refused = skip(a, lease["id"])
    assert refused.status_code == 409
    assert Assignment.objects.get(pk=lease["id"]).state == "submitted"


# --- taking a skip back -------------------------------------------------------------


def unskip(client, assignment_id: int):
    return client.post(f"/api/v1/assignments/{assignment_id}/unskip/", format="json")


def test_a_skip_taken_back_is_the_annotators_lease_again(project, annotator, api_for, add_items):
    add_items(project, 3)
    a = api_for(annotator)
    first = claim(a, project).json()
    assert skip(a, first["id"], "misread it").status_code == 200
    held = claim(a, project).json()  # the next item, leased meanwhile
    listed = a.get(f"/api/v1/projects/{project.pk}/skips/mine/").json()["results"]
    assert [(r["id"], r["skip_reason"]) for r in listed] == [(first["id"], "misread it")]

    answer = unskip(a, first["id"])

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["id"], body["state"], body["item"]["id"]) == (
        first["id"],
        "active",
        first["item"]["id"],
    )
    # As with undo, the lease held instead goes back to the queue.
    assert Assignment.objects.get(pk=held["id"]).state == "expired"
    again = claim(a, project).json()
    assert (again["id"], again["resumed"]) == (first["id"], True)
    assert submit(a, first["id"], "pos").status_code == 201
    assert a.get(f"/api/v1/projects/{project.pk}/skips/mine/").json()["results"] == []
    [mine] = annotator_counts(project)
    assert (mine["annotations"], mine["skips"]) == (1, 0)
    assert queue_violations(project) == []


def test_a_skip_cannot_be_taken_back_once_others_filled_the_item(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 1)
    a, b, c = api_for(annotator), api_for(annotators[0]), api_for(annotators[1])
    mine = claim(a, project).json()
    assert skip(a, mine["id"]).status_code == 200
    for other in (b, c):
        lease = claim(other, project).json()
        assert submit(other, lease["id"], "neg").status_code == 201

    refused = unskip(a, mine["id"])

    assert refused.status_code == 409
    assert refused.json()["code"] == "no_free_slot"
    assert Assignment.objects.get(pk=mine["id"]).state == "skipped"
    assert queue_violations(project) == []


def test_only_a_skip_can_be_taken_back(project, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()
    refused = unskip(a, lease["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "not_skipped"
    assert Assignment.objects.get(pk=lease["id"]).state == "active"
