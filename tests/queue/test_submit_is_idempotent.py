"""Submit is idempotent by its natural key, one annotation per assignment:
a replay (a client retry after a timeout, a double click, five at once)
answers 200 with the same body; another value answers 409 (SECURITY.md E3).
The annotation carries stamps the server sets, never the client."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, AnnotationRevision, Assignment
from projects import services

from .helpers import claim, submit, together

pytestmark = pytest.mark.django_db


def test_the_same_value_again_is_200_with_the_same_body(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()

    first = submit(a, lease["id"], "pos", active_ms=1200)
    # The response was lost on the way back; the client sends it again.
    replay = submit(a, lease["id"], "pos", active_ms=1200)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert Annotation.objects.count() == 1
    assert AnnotationRevision.objects.count() == 1


def test_another_value_for_a_submitted_assignment_is_409(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    first = submit(a, lease["id"], "pos").json()

    other = submit(a, lease["id"], "neg")

    assert other.status_code == 409
    assert other.json()["annotation"] == first["id"]
    assert Annotation.objects.get().value == "pos"


@pytest.mark.django_db(transaction=True)
def test_five_concurrent_replays_make_one_annotation_and_one_body(
    project, annotator, api_for, add_items
):
    add_items(project, 2)
    lease = claim(api_for(annotator), project).json()
    tabs = [api_for(annotator) for _ in range(5)]

    answers = together(*[lambda t=t: submit(t, lease["id"], "neu", active_ms=4000) for t in tabs])

    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    bodies = [a.json() for a in answers]
    assert all(body == bodies[0] for body in bodies)
    assert Annotation.objects.filter(annotator=annotator).count() == 1
    assert AnnotationRevision.objects.filter(annotator=annotator).count() == 1
    assert Assignment.objects.get(pk=lease["id"]).state == "submitted"


def test_the_server_stamps_versions_and_times(project, lead, annotator, api_for, add_items):
    services.guideline_publish(project=project, user=lead, body="# Rules", note="v1")
    services.guideline_publish(project=project, user=lead, body="# Rules, v2", note="v2")
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    assert (lease["config_version"], lease["guideline_version"]) == (1, 2)
    # A guideline published while the item is on screen does not change
    # what the annotation records: the version rendered for the assignment.
    services.guideline_publish(project=project, user=lead, body="# Rules, v3", note="v3")

    done = submit(a, lease["id"], "pos", active_ms=2500, preannotation_shown=True)

    assert done.status_code == 201, done.content
    body = done.json()
    assert (body["config_version"], body["guideline_version"]) == (1, 2)
    row = Annotation.objects.get()
    assert (row.config_version, row.guideline_version) == (1, 2)
    # No claim showed a pre-annotation (the claim's is null): the client's
    # word that one was shown is not taken.
    assert lease["preannotation"] is None
    assert row.active_ms == 2500 and row.preannotation_shown is False
    assert row.lease_to_submit_ms is not None and 0 <= row.lease_to_submit_ms < 60_000
    assert row.assignment_id == lease["id"]


@pytest.mark.parametrize(
    "extra", [{"config_version": 9}, {"guideline_version": 9}, {"lease_to_submit_ms": 1}]
)
def test_the_client_cannot_send_the_server_stamps(extra, project, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    lease = claim(a, project).json()
    refused = submit(a, lease["id"], "pos", **extra)
    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"field": next(iter(extra)), "reason": "unknown field"}]
    assert not Annotation.objects.exists()


def test_my_annotations_list_newest_first_across_pages(project, annotator, api_for, add_items):
    add_items(project, 3)
    a = api_for(annotator)
    for _ in range(3):
        lease = claim(a, project).json()
        assert submit(a, lease["id"], "pos").status_code == 201
    mine = f"/api/v1/projects/{project.pk}/annotations/mine/"

    first = a.get(mine, {"page_size": 2}).json()
    second = a.get(first["next"]).json()

    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted(Annotation.objects.values_list("pk", flat=True), reverse=True)
    assert second["next"] is None
