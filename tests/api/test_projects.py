"""Projects: create, list, read, patch; unknown fields and settings validation
(SECURITY.md A3 for mass assignment)."""

from __future__ import annotations

import pytest

from projects.models import ConfigVersion, Project
from tests.conftest import CLASSIFICATION_CONFIG

from .conftest import fields_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"


def create(api, **extra):
    body = {"name": "Topics", "task_type": "classification", "config": CLASSIFICATION_CONFIG}
    return api.post(URL, body | extra, format="json")


def test_creator_becomes_lead_with_defaults(api_for, lead):
    response = create(api_for(lead))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["roles"] == ["lead"]
    assert (body["overlap"], body["consensus"], body["review_policy"]) == (
        2,
        "unanimous",
        "disagreements",
    )
    assert (body["audit_sample"], body["lease_seconds"], body["time_zone"]) == (0.0, 1800, "UTC")
    assert body["config_version"] == 1
    assert body["config"]["labels"][0]["key"] == "pos"
    assert body["archived"] is False


def test_create_takes_every_setting(api_for, lead):
    response = create(
        api_for(lead),
        description="Sentiment of reviews",
        overlap=3,
        consensus={"majority": 2},
        review_policy="all",
        audit_sample=0.25,
        lease_seconds=600,
        time_zone="Europe/Berlin",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["description"] == "Sentiment of reviews"
    assert body["overlap"] == 3
    assert body["consensus"] == {"majority": 2}
    assert body["review_policy"] == "all"
    assert body["audit_sample"] == 0.25
    assert body["lease_seconds"] == 600
    assert body["time_zone"] == "Europe/Berlin"


def test_list_shows_only_callers_projects(api_for, project, make_project, outsider):
    theirs = make_project(outsider, name="Theirs")
    mine = api_for(project.created_by).get(URL)
    assert mine.status_code == 200
    assert [p["id"] for p in mine.json()["results"]] == [project.pk]
    assert [p["id"] for p in api_for(outsider).get(URL).json()["results"]] == [theirs.pk]


def test_list_shows_members_their_roles(api_for, project, annotator):
    [row] = api_for(annotator).get(URL).json()["results"]
    assert row["id"] == project.pk
    assert row["roles"] == ["annotator"]


def test_read_returns_config_and_counts(api_for, project, reviewer):
    body = api_for(reviewer).get(f"{URL}{project.pk}/").json()
    assert body["config"] == ConfigVersion.objects.get(project=project, number=1).config
    assert body["counts"]["total"] == 0
    assert body["roles"] == ["reviewer"]


def test_patch_changes_settings(api_for, project, lead):
    response = api_for(lead).patch(
        f"{URL}{project.pk}/",
        {"name": "Sentiment v2", "overlap": 3, "review_policy": "none", "audit_sample": "0.1"},
        format="json",
    )
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert (project.name, project.overlap, project.review_policy) == ("Sentiment v2", 3, "none")
    assert float(project.audit_sample) == 0.1


@pytest.mark.parametrize(
    "field",
    ["owner", "created_by", "archived_at", "id", "config_version", "is_lead", "storage"],
)
def test_create_rejects_unknown_fields(api_for, lead, field):
    response = create(api_for(lead), **{field: 1})
    assert response.status_code == 400
    assert fields_of(response) == {field: "unknown field"}
    assert not Project.objects.exists()


@pytest.mark.parametrize("field", ["created_by", "archived_at", "config_version", "roles"])
def test_patch_rejects_unknown_fields(api_for, project, lead, outsider, field):
    before = Project.objects.filter(pk=project.pk).values().get()
    response = api_for(lead).patch(f"{URL}{project.pk}/", {field: outsider.pk}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {field: "unknown field"}
    assert Project.objects.filter(pk=project.pk).values().get() == before


def test_body_must_be_an_object(api_for, lead):
    response = api_for(lead).post(URL, ["name"], format="json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


BAD_SETTINGS = [
    ("name", "", "name"),
    ("name", "x" * 201, "name"),
    ("overlap", 0, "overlap"),
    ("overlap", 11, "overlap"),
    ("overlap", "2", "overlap"),
    ("overlap", True, "overlap"),
    ("consensus", "most", "consensus"),
    ("consensus", {"majority": 1}, "consensus.majority"),  # not more than half of 2
    ("consensus", {"majority": 3}, "consensus.majority"),  # more than overlap 2
    ("consensus", {"majority": 2, "min": 1}, "consensus"),
    ("consensus", {"majority": "2"}, "consensus.majority"),
    ("review_policy", "sometimes", "review_policy"),
    ("audit_sample", -0.1, "audit_sample"),
    ("audit_sample", 1.5, "audit_sample"),
    ("audit_sample", True, "audit_sample"),
    ("audit_sample", "NaN", "audit_sample"),
    ("audit_sample", "Infinity", "audit_sample"),
    ("audit_sample", [0.1], "audit_sample"),
    ("lease_seconds", 59, "lease_seconds"),
    ("lease_seconds", 7 * 24 * 3600 + 1, "lease_seconds"),
    ("lease_seconds", 60.5, "lease_seconds"),
    ("time_zone", "Mars/Olympus_Mons", "time_zone"),
    ("time_zone", "", "time_zone"),
    ("time_zone", 3, "time_zone"),
]


@pytest.mark.parametrize(("name", "value", "field"), BAD_SETTINGS)
def test_create_validates_settings(api_for, lead, name, value, field):
    response = create(api_for(lead), **{name: value})
    assert response.status_code == 400, response.content
    assert field in fields_of(response)
    assert not Project.objects.exists()


@pytest.mark.parametrize(("name", "value", "field"), BAD_SETTINGS)
def test_patch_validates_settings(api_for, project, lead, name, value, field):
    before = Project.objects.filter(pk=project.pk).values().get()
    response = api_for(lead).patch(f"{URL}{project.pk}/", {name: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in fields_of(response)
    assert Project.objects.filter(pk=project.pk).values().get() == before


def test_lowering_overlap_below_majority_is_refused(api_for, make_project, lead):
    project = make_project(lead, overlap=3, consensus={"majority": 2})
    response = api_for(lead).patch(f"{URL}{project.pk}/", {"overlap": 1}, format="json")
    assert response.status_code == 400
    assert "consensus.majority" in fields_of(response)


def test_raising_overlap_past_twice_the_majority_is_refused(api_for, make_project, lead):
    # A majority of 2 out of 4 is no majority: two annotators could "win" against two.
    project = make_project(lead, overlap=3, consensus={"majority": 2})
    response = api_for(lead).patch(f"{URL}{project.pk}/", {"overlap": 4}, format="json")
    assert response.status_code == 400
    assert "consensus.majority" in fields_of(response)
    project.refresh_from_db()
    assert project.overlap == 3


def test_overlap_and_majority_change_together(api_for, make_project, lead):
    project = make_project(lead, overlap=3, consensus={"majority": 2})
    response = api_for(lead).patch(
        f"{URL}{project.pk}/", {"overlap": 5, "consensus": {"majority": 3}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["consensus"] == {"majority": 3}


def test_unanimous_is_stored_as_no_majority(api_for, make_project, lead):
    project = make_project(lead, overlap=3, consensus={"majority": 2})
    response = api_for(lead).patch(f"{URL}{project.pk}/", {"consensus": "unanimous"}, format="json")
    assert response.json()["consensus"] == "unanimous"
    project.refresh_from_db()
    assert project.consensus_majority is None


BAD_CONFIGS = [
    ("unknown task type", {"task_type": "sentiment-magic"}, "task_type"),
    ("task type not text", {"task_type": 5}, "task_type"),
    (
        "label without a key",
        {"config": {"labels": [{"name": "A"}, {"key": "b", "name": "B"}]}},
        "config.labels[0].key",
    ),
    (
        "duplicate keys",
        {"config": {"labels": [{"key": "a", "name": "A"}, {"key": "a", "name": "B"}]}},
        "config.labels[1].key",
    ),
    (
        "reserved hotkey",
        {
            "config": {
                "labels": [{"key": "a", "name": "A", "hotkey": "?"}, {"key": "b", "name": "B"}]
            }
        },
        "config.labels[0].hotkey",
    ),
    (
        "shift hotkey",
        {
            "config": {
                "labels": [{"key": "a", "name": "A", "hotkey": "S"}, {"key": "b", "name": "B"}]
            }
        },
        "config.labels[0].hotkey",
    ),
    ("no labels", {"config": {"labels": []}}, "config.labels"),
    ("config not an object", {"config": "labels: a, b"}, "config"),
    (
        "unknown label field",
        {
            "config": {
                "labels": [{"key": "a", "name": "A", "onclick": "x"}, {"key": "b", "name": "B"}]
            }
        },
        "config.labels[0].onclick",
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_create_rejects_bad_schema(api_for, lead, case, body, field):
    response = create(api_for(lead), **body)
    assert response.status_code == 400, response.content
    assert field in fields_of(response), fields_of(response)
    assert not Project.objects.exists()


def test_huge_project_id_is_404_not_500(api_for, lead):
    response = api_for(lead).get(f"{URL}{'9' * 30}/")
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_patching_an_unchanged_value_needs_the_same_permission(api_for, project, request, role):
    # A3: sending the current value is still a change request.
    api = api_for(request.getfixturevalue(role))
    response = api.patch(f"{URL}{project.pk}/", {"name": project.name}, format="json")
    assert response.status_code == 403


def test_overlap_above_the_annotators_is_saved_with_a_warning(api_for, project, lead):
    """The project has one annotator (the fixture's); overlap 3 is valid but
    no item could finish: the answer says so where it is set."""
    api = api_for(lead)
    response = api.patch(f"{URL}{project.pk}/", {"overlap": 3}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["overlap"] == 3
    [warning] = response.json()["warnings"]
    assert warning["field"] == "overlap" and warning["code"] == "overlap_above_annotators"
    assert "Overlap is 3 but the project has 1 annotator:" in warning["message"]

    response = api.patch(f"{URL}{project.pk}/", {"overlap": 1}, format="json")
    assert response.json()["warnings"] == []


def test_creating_with_overlap_above_the_annotators_warns(api_for, lead):
    body = create(api_for(lead), overlap=2).json()
    assert [w["code"] for w in body["warnings"]] == ["overlap_above_annotators"]
    assert "has 0 annotators" in body["warnings"][0]["message"]
