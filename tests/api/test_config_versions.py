"""The label schema is versioned; a change that would invalidate annotations
needs a dry run and an explicit confirmation (DESIGN.md; SECURITY.md E8)."""

from __future__ import annotations

import copy

import pytest

from annotation.models import Annotation
from projects.models import ConfigVersion, Project
from tests.conftest import CLASSIFICATION_CONFIG

from .conftest import fields_of

pytestmark = pytest.mark.django_db


def config_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/config/"


def with_label(key: str) -> dict:
    config = copy.deepcopy(CLASSIFICATION_CONFIG)
    config["labels"].append({"key": key, "name": key.title()})
    return config


def without_label(key: str) -> dict:
    config = copy.deepcopy(CLASSIFICATION_CONFIG)
    config["labels"] = [label for label in config["labels"] if label["key"] != key]
    return config


def state(project) -> tuple:
    project.refresh_from_db()
    return (
        project.config_version,
        project.task_type,
        project.name,
        ConfigVersion.objects.filter(project=project).count(),
        Annotation.objects.filter(project=project).count(),
    )


def test_versions_are_listed_newest_first(api_for, project, lead, annotator):
    api_for(lead).post(config_url(project), {"config": with_label("mixed")}, format="json")
    response = api_for(annotator).get(config_url(project))
    assert response.status_code == 200
    assert [v["number"] for v in response.json()["results"]] in ([2, 1], [1, 2])
    numbers = sorted(v["number"] for v in response.json()["results"])
    assert numbers == [1, 2]


def test_adding_a_label_makes_a_new_version(api_for, project, lead):
    response = api_for(lead).post(
        config_url(project), {"config": with_label("mixed"), "note": "adds mixed"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["applied"], body["breaking"], body["version"]) == (True, False, 2)
    assert "adds label 'mixed'" in body["changes"]
    project.refresh_from_db()
    assert project.config_version == 2
    assert ConfigVersion.objects.get(project=project, number=2).note == "adds mixed"


def test_same_config_changes_nothing(api_for, project, lead):
    response = api_for(lead).post(
        config_url(project), {"config": CLASSIFICATION_CONFIG}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["applied"] is False
    assert response.json()["changes"] == ["no change"]
    assert state(project)[0] == 1


def test_dry_run_counts_affected_annotations(api_for, project, lead, annotator, reviewer, annotate):
    annotate(project, (annotator, "neu"), (reviewer, "pos"), text="a")
    annotate(project, (annotator, "neu"), text="b")
    before = state(project)
    response = api_for(lead).post(
        config_url(project), {"config": without_label("neu"), "dry_run": True}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["applied"] is False
    assert body["breaking"] is True
    assert (body["affected_annotations"], body["total_annotations"]) == (2, 3)
    assert body["needs_confirmation"] is True
    assert state(project) == before


def test_breaking_change_without_confirm_is_409_with_impact(
    api_for, project, lead, annotator, annotate
):
    annotate(project, (annotator, "neu"))
    before = state(project)
    response = api_for(lead).post(
        config_url(project), {"config": without_label("neu")}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["impact"]["affected_annotations"] == 1
    assert state(project) == before


def test_confirmed_breaking_change_keeps_annotations(api_for, project, lead, annotator, annotate):
    annotate(project, (annotator, "neu"))
    response = api_for(lead).post(
        config_url(project), {"config": without_label("neu"), "confirm": True}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2
    annotation = Annotation.objects.get(project=project)
    assert (annotation.value, annotation.config_version) == ("neu", 1)
    assert ConfigVersion.objects.get(project=project, number=2).impact["confirmed"] is True


def test_breaking_change_with_no_annotations_applies(api_for, project, lead):
    response = api_for(lead).post(
        config_url(project), {"config": without_label("neu")}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["breaking"] is True


def test_switching_to_multi_label_affects_every_annotation(
    api_for, project, lead, annotator, annotate
):
    annotate(project, (annotator, "pos"), text="a")
    annotate(project, (annotator, "neg"), text="b")
    config = copy.deepcopy(CLASSIFICATION_CONFIG) | {"multi_label": True}
    response = api_for(lead).post(
        config_url(project), {"config": config, "dry_run": True}, format="json"
    )
    assert response.json()["affected_annotations"] == 2


def test_changing_task_type_needs_confirmation(api_for, project, lead, annotator, annotate):
    annotate(project, (annotator, "pos"))
    response = api_for(lead).post(
        config_url(project),
        {"config": CLASSIFICATION_CONFIG, "task_type": "no-such-type"},
        format="json",
    )
    assert response.status_code == 400
    assert "task_type" in fields_of(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": CLASSIFICATION_CONFIG, "dry_run": "yes"}, "dry_run"),
        ({"config": CLASSIFICATION_CONFIG, "confirm": 1}, "confirm"),
        ({"config": with_label("mixed"), "note": 5}, "note"),
        ({"config": with_label("mixed"), "note": ["a"]}, "note"),
        ({"config": {"labels": [{"key": "a"}]}}, "config.labels[0].name"),
        ({"config": CLASSIFICATION_CONFIG, "labels": []}, "labels"),
        ({}, "config"),
    ],
)
def test_config_input_is_validated(api_for, project, lead, body, field):
    before = state(project)
    response = api_for(lead).post(config_url(project), body, format="json")
    assert response.status_code == 400, response.content
    assert field in fields_of(response), fields_of(response)
    assert state(project) == before


# --- the same through PATCH /projects/{id}/ -----------------------------------------


def patch(api, project, body):
    return api.patch(f"/api/v1/projects/{project.pk}/", body, format="json")


def test_patch_with_breaking_config_is_409_with_impact(api_for, project, lead, annotator, annotate):
    annotate(project, (annotator, "neu"))
    before = state(project)
    response = patch(api_for(lead), project, {"config": without_label("neu")})
    assert response.status_code == 409
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["impact"]["affected_annotations"] == 1
    assert state(project) == before


def test_patch_with_confirm_applies(api_for, project, lead, annotator, annotate):
    annotate(project, (annotator, "neu"))
    response = patch(api_for(lead), project, {"config": without_label("neu"), "confirm": True})
    assert response.status_code == 200, response.content
    assert response.json()["config_version"] == 2
    assert [label["key"] for label in response.json()["config"]["labels"]] == ["pos", "neg"]


def test_refused_patch_changes_no_setting_either(api_for, project, lead, annotator, annotate):
    # One request, one outcome: a 409 for the schema must not keep the new name.
    annotate(project, (annotator, "neu"))
    before = state(project)
    response = patch(api_for(lead), project, {"name": "Renamed", "config": without_label("neu")})
    assert response.status_code == 409
    assert state(project) == before


def test_invalid_config_in_patch_changes_no_setting(api_for, project, lead):
    before = state(project)
    response = patch(api_for(lead), project, {"name": "Renamed", "config": {"labels": "x"}})
    assert response.status_code == 400
    assert state(project) == before


def test_patch_confirm_must_be_a_boolean(api_for, project, lead, annotator, annotate):
    annotate(project, (annotator, "neu"))
    before = state(project)
    response = patch(api_for(lead), project, {"config": without_label("neu"), "confirm": "false"})
    assert response.status_code == 400
    assert "confirm" in fields_of(response)
    assert state(project) == before


def test_patch_config_note_must_be_text(api_for, project, lead):
    response = patch(api_for(lead), project, {"config": with_label("mixed"), "config_note": 7})
    assert response.status_code == 400
    assert "config_note" in fields_of(response)
    assert Project.objects.get(pk=project.pk).config_version == 1
