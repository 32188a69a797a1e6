"""Leases end: expiry gives the slot back, a late submit is accepted while
the slot is still free and refused (409) once it was retaken, the same
annotator may take the item again, and whichever paths release one lease at
the same moment, its slot comes back once (DESIGN.md, "The queue"; E4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Annotation, Assignment, ReopenedSlot
from annotation.queue.release import leases_expire
from items.models import Item

from .helpers import claim, draft, later, queue_violations, skip, submit, together

pytestmark = pytest.mark.django_db


def end_lease(assignment_id: int) -> None:
    """Move a lease's end into the past, as if the annotator walked away."""
    Assignment.objects.filter(pk=assignment_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_expiry_returns_the_slot_and_a_late_submit_is_accepted_while_it_is_free(
    project, annotator, api_for, add_items
):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()
    assert Item.objects.get().free_slots == 1
    end_lease(lease["id"])

    assert leases_expire(project_id=project.pk) == 1
    assert leases_expire(project_id=project.pk) == 0  # nothing left to sweep
    assert Item.objects.get().free_slots == 2
    assert a.get(f"/api/v1/assignments/{lease['id']}/").json()["state"] == "expired"

    late = submit(a, lease["id"], "pos", active_ms=90_000)
    assert late.status_code == 201, late.content
    annotation = Annotation.objects.get()
    assert (annotation.annotator, annotation.value, annotation.active_ms) == (
        annotator,
        "pos",
        90_000,
    )
    assert Assignment.objects.get(pk=lease["id"]).state == "submitted"
    assert Item.objects.get().free_slots == 1
    assert queue_violations(project) == []


def test_a_late_submit_after_the_slot_was_retaken_is_409_and_stores_nothing(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 1)
    a, b, c = api_for(annotator), api_for(annotators[0]), api_for(annotators[1])
    lease = claim(a, project).json()
    end_lease(lease["id"])
    leases_expire()
    assert claim(b, project).status_code == 200
    assert claim(c, project).status_code == 200

    late = submit(a, lease["id"], "pos")

    assert late.status_code == 409, late.content
    assert "taken" in late.json()["detail"]
    assert not Annotation.objects.filter(annotator=annotator).exists()
    assert Assignment.objects.get(pk=lease["id"]).state == "expired"
    busy = claim(a, project)
    assert (busy.status_code, busy["Accord-Reason"]) == (204, "all-leased")
    assert queue_violations(project) == []


def test_the_same_annotator_takes_the_item_again_after_expiry_with_their_draft(
    project, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    first = claim(a, project).json()
    draft(a, first["id"], "neg")
    end_lease(first["id"])

    # The claim itself sweeps the caller's ended lease; expiry does not
    # exclude them, and the reopened slot is offered before the rest.
    again = claim(a, project).json()

    assert again["item"]["id"] == first["item"]["id"]
    assert again["id"] == first["id"]  # one row per (item, annotator)
    assert again["resumed"] is False
    assert again["draft"] == "neg"
    assert again["state"] == "active"
    assert Item.objects.get(pk=first["item"]["id"]).free_slots == 1
    assert queue_violations(project) == []


def test_a_claim_that_finds_only_ended_leases_sweeps_them_and_says_try_again(
    make_project, lead, annotator, annotators, api_for, add_items
):
    from projects import services

    project = make_project(lead, overlap=1)
    for person in (annotator, annotators[0]):
        services.membership_set(project=project, user=person, roles=["annotator"])
    add_items(project, 1)
    a, b = api_for(annotator), api_for(annotators[0])
    lease = claim(a, project).json()
    end_lease(lease["id"])

    wait = claim(b, project)
    assert (wait.status_code, wait["Accord-Reason"], wait["Retry-After"]) == (
        204,
        "all-leased",
        "1",
    )
    assert Assignment.objects.get(pk=lease["id"]).state == "expired"
    taken = claim(b, project)
    assert taken.status_code == 200 and taken.json()["item"]["id"] == lease["item"]["id"]


def test_all_leased_says_when_the_soonest_lease_ends(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 1)
    claim(api_for(annotator), project)
    claim(api_for(annotators[0]), project)
    Assignment.objects.update(expires_at=timezone.now() + timedelta(seconds=30))

    wait = claim(api_for(annotators[1]), project)

    assert (wait.status_code, wait["Accord-Reason"]) == (204, "all-leased")
    assert 29 <= int(wait["Retry-After"]) <= 31


def test_saving_a_draft_renews_the_lease(project, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()
    soon = timezone.now() + timedelta(seconds=5)
    Assignment.objects.filter(pk=lease["id"]).update(expires_at=soon)

    saved = draft(a, lease["id"], {"anything": "in progress"})

    assert saved.status_code == 200, saved.content
    renewed = Assignment.objects.get(pk=lease["id"]).expires_at
    assert renewed >= timezone.now() + timedelta(seconds=project.lease_seconds - 5)
    assert saved.json()["draft"] == {"anything": "in progress"}


def test_a_late_draft_takes_the_lease_back_while_the_slot_is_free(
    project, annotator, api_for, add_items
):
    """E4: the autosave of a connection that dropped arrives after expiry."""
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    end_lease(lease["id"])
    leases_expire()

    saved = draft(a, lease["id"], "neu")

    assert saved.status_code == 200, saved.content
    assert saved.json()["state"] == "active"
    assert Item.objects.get(pk=lease["item"]["id"]).free_slots == 1
    assert queue_violations(project) == []


def test_a_late_draft_while_holding_another_lease_is_409_until_that_one_is_done(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 2)
    a, b, c = (api_for(u) for u in (annotator, annotators[0], annotators[1]))
    first = claim(a, project).json()
    claim(b, project)  # the item's other slot
    end_lease(first["id"])
    leases_expire()
    taken = claim(c, project).json()  # the slot the expiry gave back
    assert taken["item"]["id"] == first["item"]["id"]
    other = claim(a, project).json()
    assert other["item"]["id"] != first["item"]["id"]
    later(c, taken["id"])  # the slot is free again

    refused = draft(a, first["id"], "neu")

    assert refused.status_code == 409, refused.content
    assert "another" in refused.json()["detail"]
    assert Assignment.objects.get(pk=first["id"]).state == "expired"
    assert submit(a, other["id"], "pos").status_code == 201
    assert draft(a, first["id"], "neu").status_code == 200
    assert queue_violations(project) == []


@pytest.mark.django_db(transaction=True)
def test_every_release_path_at_once_gives_the_slot_back_once(
    project, lead, annotator, annotators, api_for, add_items
):
    add_items(project, 4)
    a, partner, boss = api_for(annotator), api_for(annotators[0]), api_for(lead)
    for _ in range(4):
        # The partner fills one slot of the item; the annotator's lease on
        # the other has ended and is released by five paths at once.
        lease = claim(a, project).json()
        item_id = lease["item"]["id"]
        held = claim(partner, project).json()
        assert held["item"]["id"] == item_id
        assert submit(partner, held["id"], "pos").status_code == 201
        end_lease(lease["id"])

        results = together(
            lambda: leases_expire(project_id=project.pk),
            lambda: leases_expire(),
            lambda lid=lease["id"]: boss.post(
                f"/api/v1/projects/{project.pk}/leases/{lid}/release/"
            ),
            lambda lid=lease["id"]: skip(a, lid, "cannot read it"),
            lambda lid=lease["id"]: later(a, lid),
        )

        expired = results[0] + results[1]
        released = results[2].json()["released"]
        deferred = results[4].status_code == 200
        assert results[3].status_code == 200  # a skip of an ended lease is still a skip
        assert results[4].status_code in (200, 409)
        assert expired + released + deferred <= 1
        item = Item.objects.get(pk=item_id)
        assert item.free_slots == 1, "the slot came back twice (or never)"
        assert Assignment.objects.get(pk=lease["id"]).state == "skipped"
        assert ReopenedSlot.objects.filter(item_id=item_id).count() == 1
        assert queue_violations(project) == []
