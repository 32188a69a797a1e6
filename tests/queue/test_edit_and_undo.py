"""An annotator may edit or undo their own submission until the item is
compared; from then on it is frozen (409). Every value is kept as a revision
(DESIGN.md, "The queue"; SECURITY.md A8)."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, AnnotationRevision, Assignment
from items.models import Item
from projects.counters import counters_for

from .helpers import claim, edit, queue_violations, submit, together, undo

pytestmark = pytest.mark.django_db


def revisions(client, assignment_id: int) -> list[tuple[str, object]]:
    answer = client.get(f"/api/v1/assignments/{assignment_id}/revisions/")
    assert answer.status_code == 200, answer.content
    return [(r["kind"], r["value"]) for r in answer.json()]


def test_edit_keeps_every_value_as_a_revision(project, lead, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    first = submit(a, lease["id"], "pos").json()

    changed = edit(a, first["id"], "neg")

    assert changed.status_code == 200, changed.content
    assert (changed.json()["value"], changed.json()["revision"]) == ("neg", 2)
    assert changed.json()["frozen"] is False
    assert edit(a, first["id"], "neg").json()["revision"] == 2  # same value: no new revision
    assert revisions(a, lease["id"]) == [("submit", "pos"), ("edit", "neg")]
    item_history = api_for(lead).get(
        f"/api/v1/projects/{project.pk}/items/{lease['item']['id']}/revisions/"
    )
    assert [(r["kind"], r["value"]) for r in item_history.json()] == [
        ("submit", "pos"),
        ("edit", "neg"),
    ]
    assert Annotation.objects.get().value == "neg"


def test_undo_turns_the_submission_back_into_a_lease_with_its_value_as_draft(
    project, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    lease = claim(a, project).json()
    first = submit(a, lease["id"], "pos").json()
    held = claim(a, project).json()  # the next item, which undo gives back

    back = undo(a, first["id"])

    assert back.status_code == 200, back.content
    body = back.json()
    assert (body["id"], body["state"], body["draft"]) == (lease["id"], "active", "pos")
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=held["id"]).state == "expired"
    assert Item.objects.get(pk=held["item"]["id"]).free_slots == 2
    resumed = claim(a, project).json()
    assert resumed["id"] == lease["id"] and resumed["resumed"] is True
    again = submit(a, lease["id"], "neu")
    assert again.status_code == 201
    assert revisions(a, lease["id"]) == [("submit", "pos"), ("undo", None), ("submit", "neu")]
    counters = counters_for([project.pk])[project.pk]
    assert counters[f"annotator:{annotator.pk}:submitted"] == 1
    assert counters["annotations:total"] == 1
    assert queue_violations(project) == []


def compared_item(project, annotator, partner, api_for):
    """An item both annotators submitted (so it was compared): the
    annotator's client and annotation id."""
    a, b = api_for(annotator), api_for(partner)
    mine = submit(a, claim(a, project).json()["id"], "pos").json()
    submit(b, claim(b, project).json()["id"], "neg")
    assert Item.objects.get(pk=mine["item"]["id"]).compared_at is not None
    return a, mine


def test_once_compared_the_annotation_is_frozen(project, annotator, annotators, api_for, add_items):
    add_items(project, 2)
    a, mine = compared_item(project, annotator, annotators[0], api_for)
    before = list(Annotation.objects.order_by("pk").values())

    refused_edit = edit(a, mine["id"], "neu")
    refused_undo = undo(a, mine["id"])

    assert (refused_edit.status_code, refused_undo.status_code) == (409, 409)
    assert list(Annotation.objects.order_by("pk").values()) == before
    assert AnnotationRevision.objects.filter(kind__in=["edit", "undo"]).count() == 0
    assert a.get(f"/api/v1/annotations/{mine['id']}/").json()["frozen"] is True
    assert queue_violations(project) == []


def test_edit_with_a_bad_value_is_400_and_changes_nothing(project, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    mine = submit(a, claim(a, project).json()["id"], "pos").json()
    refused = edit(a, mine["id"], "nope")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "value"
    assert Annotation.objects.get().value == "pos"
    assert AnnotationRevision.objects.count() == 1


def test_another_annotators_annotation_cannot_be_read_edited_or_undone(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 2)
    a, b = api_for(annotator), api_for(annotators[0])
    theirs = submit(b, claim(b, project).json()["id"], "neg").json()
    for answer in (
        a.get(f"/api/v1/annotations/{theirs['id']}/"),
        edit(a, theirs["id"], "pos"),
        undo(a, theirs["id"]),
        a.get(f"/api/v1/assignments/{theirs['assignment']}/revisions/"),
    ):
        assert answer.status_code == 404
    assert Annotation.objects.get().value == "neg"


@pytest.mark.django_db(transaction=True)
def test_two_tabs_undoing_at_once_undo_once(project, annotator, api_for, add_items):
    add_items(project, 2)
    mine = submit(api_for(annotator), claim(api_for(annotator), project).json()["id"], "pos")
    tabs = [api_for(annotator), api_for(annotator)]

    answers = together(*[lambda t=t: undo(t, mine.json()["id"]) for t in tabs])

    assert sorted(a.status_code for a in answers) == [200, 404]
    assert AnnotationRevision.objects.filter(kind="undo").count() == 1
    assert queue_violations(project) == []


@pytest.mark.django_db(transaction=True)
def test_an_edit_racing_the_partners_submit_is_frozen_or_compared_with(
    project, annotator, annotators, api_for, add_items
):
    """The edit and the submit that completes the item serialise on the item:
    either the edit lands first and the comparison sees it, or the item is
    compared first and the edit is refused."""
    add_items(project, 1)
    a, b = api_for(annotator), api_for(annotators[0])
    mine = submit(a, claim(a, project).json()["id"], "pos").json()
    theirs = claim(b, project).json()

    edited, submitted = together(
        lambda: edit(a, mine["id"], "neg"), lambda: submit(b, theirs["id"], "neg")
    )

    assert submitted.status_code == 201
    item = Item.objects.get()
    if edited.status_code == 200:
        assert item.outcome == "agreed"
    else:
        assert edited.status_code == 409
        assert item.outcome == "disagreed"
    assert Annotation.objects.get(pk=mine["id"]).value == (
        "neg" if item.outcome == "agreed" else "pos"
    )
