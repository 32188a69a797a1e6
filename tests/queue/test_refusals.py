"""Who may not use the queue, and in which states it says no: another's
assignment and another project are 404 (nobody learns they exist), a
reviewer or lead without the annotator role cannot claim (403), an archived
project is read-only (409), a skipped item cannot be submitted (409)
(SECURITY.md A1, A7, A8)."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Assignment
from items.models import Item
from projects import services

from .helpers import claim, draft, later, skip, submit

pytestmark = pytest.mark.django_db


def rows():
    return (
        list(Assignment.objects.order_by("pk").values()),
        list(Annotation.objects.order_by("pk").values()),
        list(Item.objects.order_by("pk").values("pk", "free_slots", "state")),
    )


def test_anothers_assignment_is_404_on_every_route(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 2)
    a, b = api_for(annotator), api_for(annotators[0])
    theirs = claim(b, project).json()["id"]
    before = rows()
    for answer in (
        a.get(f"/api/v1/assignments/{theirs}/"),
        submit(a, theirs, "pos"),
        skip(a, theirs),
        later(a, theirs),
        draft(a, theirs, "pos"),
        a.get(f"/api/v1/assignments/{theirs}/revisions/"),
    ):
        assert answer.status_code == 404, answer.content
        assert answer.json() == {"detail": "Not found."}
    assert rows() == before


def test_an_outsider_gets_404_for_the_project_and_its_assignments(
    project, annotator, outsider, make_project, api_for, add_items
):
    make_project(outsider, name="Theirs")  # the outsider leads a project of their own
    add_items(project, 1)
    lease = claim(api_for(annotator), project).json()
    them = api_for(outsider)
    before = rows()
    assert claim(them, project).status_code == 404
    assert them.get(f"/api/v1/projects/{project.pk}/annotations/mine/").status_code == 404
    assert submit(them, lease["id"], "pos").status_code == 404
    assert them.get(f"/api/v1/assignments/{lease['id']}/").status_code == 404
    assert rows() == before


def test_a_reviewer_and_a_lead_cannot_claim_unless_they_annotate(
    project, lead, reviewer, api_for, add_items
):
    add_items(project, 1)
    assert claim(api_for(reviewer), project).status_code == 403
    assert claim(api_for(lead), project).status_code == 403
    assert not Assignment.objects.exists()
    services.membership_set(project=project, user=lead, roles=["lead", "annotator"])
    assert claim(api_for(lead), project).status_code == 200


def test_a_removed_annotator_loses_their_lease_routes(project, lead, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()
    services.membership_remove(project=project, user=annotator)
    assert a.get(f"/api/v1/assignments/{lease['id']}/").status_code == 404
    assert submit(a, lease["id"], "pos").status_code == 404
    assert not Annotation.objects.exists()


def test_an_archived_project_refuses_claims_and_writes_with_409(
    project, lead, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    lease = claim(a, project).json()
    done = submit(a, lease["id"], "pos").json()
    second = claim(a, project).json()
    services.project_archive(project=project, user=lead)
    before = rows()

    for answer in (
        claim(a, project),
        submit(a, second["id"], "pos"),
        skip(a, second["id"]),
        later(a, second["id"]),
        draft(a, second["id"], "neg"),
        a.patch(f"/api/v1/annotations/{done['id']}/", {"value": "neg"}, format="json"),
        a.post(f"/api/v1/annotations/{done['id']}/undo/"),
    ):
        assert answer.status_code == 409, answer.content
    assert rows() == before
    # Reading one's own work stays allowed.
    assert a.get(f"/api/v1/assignments/{second['id']}/").status_code == 200
    assert a.get(f"/api/v1/projects/{project.pk}/annotations/mine/").status_code == 200


def test_submit_after_skip_is_409(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    skip(a, lease["id"])
    before = rows()
    refused = submit(a, lease["id"], "pos")
    assert refused.status_code == 409
    assert refused.json()["code"] == "skipped"
    assert draft(a, lease["id"], "pos").status_code == 409
    assert rows() == before


def test_ids_that_are_not_numbers_are_404(annotator, project, api_for):
    a = api_for(annotator)
    assert a.get("/api/v1/assignments/0/").status_code == 404
    assert a.get(f"/api/v1/assignments/{10**12}/").status_code == 404
    assert a.post(f"/api/v1/annotations/{10**12}/undo/").status_code == 404
