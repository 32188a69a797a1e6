"""Stats: progress for every member, per-annotator figures for leads only
(an annotator must not see how colleagues are doing: SECURITY.md A7)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def stats(api, project):
    response = api.get(f"/api/v1/projects/{project.pk}/stats/")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def annotated(project, annotator, reviewer, annotate):
    annotate(project, (annotator, "pos"), (reviewer, "pos"), text="one")
    annotate(project, (annotator, "neg"), text="two")
    return project


def test_lead_sees_annotations_per_annotator(api_for, annotated, lead, annotator, reviewer):
    body = stats(api_for(lead), annotated)
    rows = {r["username"]: (r["user"], r["annotations"]) for r in body["annotations_per_annotator"]}
    assert rows == {"annotator": (annotator.pk, 2), "reviewer": (reviewer.pk, 1)}
    assert set(body["items"]) >= {"open", "review", "gold", "total"}


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_members_see_totals_but_no_one_elses_figures(api_for, annotated, request, role):
    body = stats(api_for(request.getfixturevalue(role)), annotated)
    assert body["annotations_per_annotator"] == []
    assert "items" in body


def test_other_projects_annotations_are_not_counted(
    api_for, annotated, lead, outsider, make_project, annotate
):
    other = make_project(outsider, name="Other")
    annotate(other, (outsider, "pos"), text="elsewhere")
    usernames = {
        r["username"] for r in stats(api_for(lead), annotated)["annotations_per_annotator"]
    }
    assert "outsider" not in usernames
