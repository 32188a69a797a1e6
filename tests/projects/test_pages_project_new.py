"""The new-project page: any user creates a project (and becomes its lead)
through services.project_create; its errors come back beside their fields."""

from __future__ import annotations

from decimal import Decimal

import pytest

from projects.models import ConfigVersion, Membership, Project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]

URL = "/projects/new/"


def label_rows(*labels: dict) -> dict[str, str]:
    data = {
        "labels-TOTAL_FORMS": str(len(labels)),
        "labels-INITIAL_FORMS": "0",
        "labels-MIN_NUM_FORMS": "0",
        "labels-MAX_NUM_FORMS": "500",
    }
    for index, label in enumerate(labels):
        for name in ("key", "name", "hotkey", "color", "description"):
            data[f"labels-{index}-{name}"] = label.get(name, "")
    return data


POS = {"key": "pos", "name": "Positive", "hotkey": "p", "color": "#2E7D32"}
NEG = {"key": "neg", "name": "Negative", "hotkey": "n", "description": "Complaints"}


def form(*labels: dict, **overrides: str) -> dict[str, str]:
    data = {
        "name": "Topics",
        "description": "Short reviews",
        "task_type": "classification",
        "time_zone": "Europe/Berlin",
        "overlap": "2",
        "consensus": "unanimous",
        "consensus_k": "",
        "review_policy": "disagreements",
        "audit_sample": "5",
        "lease_minutes": "30",
        **label_rows(*(labels or (POS, NEG))),
    }
    data.update(overrides)
    return data


def test_the_form_offers_task_types_and_an_editable_label_table(web_for, pages, outsider):
    response = web_for(outsider).get(URL)
    assert response.status_code == 200
    body = pages.text(response)
    assert '<option value="classification"' in body
    assert 'id="id_labels-0-key"' in body and 'id="id_labels-1-key"' in body
    assert '<label class="visually-hidden" for="id_labels-0-key">Key of label 1</label>' in body
    assert "<template data-label-template>" in body and "labels-__prefix__-key" in body
    assert 'name="add_label"' in body  # works without JavaScript too
    assert '<option value="Europe/Berlin">' in body


def test_any_user_creates_a_project_and_becomes_its_lead(web_for, pages, outsider):
    client = web_for(outsider)
    response = client.post(URL, form())
    project = Project.objects.get(name="Topics")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/"
    assert Membership.objects.get(project=project, user=outsider).roles == ["lead"]
    assert project.time_zone == "Europe/Berlin"
    assert project.audit_sample == Decimal("0.05")  # the page asks for percent
    assert project.lease_seconds == 1800  # and for minutes
    config = ConfigVersion.objects.get(project=project, number=1).config
    assert config == {
        "multi_label": False,
        "labels": [
            {"key": "pos", "name": "Positive", "hotkey": "p", "color": "#2e7d32"},
            {"key": "neg", "name": "Negative", "hotkey": "n", "description": "Complaints"},
        ],
    }
    page = client.get(response["Location"])
    assert "Project “Topics” created. You are its lead." in pages.messages(page)


def test_majority_multi_label_and_blank_rows_dropped(web_for, lead):
    data = form(POS, {}, NEG, overlap="3", consensus="majority", consensus_k="2", multi_label="on")
    response = web_for(lead).post(URL, data)
    assert response.status_code == 302
    project = Project.objects.get(name="Topics")
    assert project.overlap == 3
    assert project.consensus_majority == 2
    config = ConfigVersion.objects.get(project=project).config
    assert config["multi_label"] is True
    assert [label["key"] for label in config["labels"]] == ["pos", "neg"]


def test_bad_settings_are_shown_beside_each_field_and_nothing_is_stored(web_for, pages, lead):
    response = web_for(lead).post(URL, form(name="", overlap="11", time_zone="Mars/Olympus"))
    assert response.status_code == 400
    assert Project.objects.count() == 0
    assert pages.field_errors(response, "id_name") == "Name is required"
    assert (
        pages.field_errors(response, "id_overlap") == "Overlap must be a whole number from 1 to 10"
    )
    assert "is not a known IANA time zone" in pages.field_errors(response, "id_time_zone")
    # What the user typed is kept, and the input points at its error.
    assert pages.input_value(response, "id_overlap") == "11"
    assert pages.input_value(response, "id_labels-1-name") == "Negative"
    body = pages.text(response)
    assert 'aria-invalid="true" aria-describedby="id_overlap_helptext id_overlap_error"' in body
    assert "correct the fields marked below" in pages.messages(response)


def test_bad_labels_are_shown_on_their_row_and_nothing_is_stored(web_for, pages, lead):
    bad_neg = {**NEG, "hotkey": "p", "color": "green"}  # Positive has hotkey p already
    response = web_for(lead).post(URL, form(POS, bad_neg))
    assert response.status_code == 400
    assert Project.objects.count() == 0
    assert pages.field_errors(response, "id_labels-1-hotkey") == "Duplicate hotkey 'p'"
    assert pages.field_errors(response, "id_labels-1-color") == "Must be a colour like #2e7d32"
    assert pages.field_errors(response, "id_labels-0-hotkey") == ""
    assert pages.input_value(response, "id_labels-1-color") == "green"
    assert pages.input_value(response, "id_labels-1-description") == "Complaints"
    assert pages.input_value(response, "id_name") == "Topics"


def test_a_label_error_lands_on_its_row_even_after_a_blank_row(web_for, pages, lead):
    # Row 1 is blank and dropped, so the service's labels[1] is row 2.
    response = web_for(lead).post(URL, form(POS, {}, {"key": "null", "name": "Nothing"}))
    assert response.status_code == 400
    assert pages.field_errors(response, "id_labels-2-key") == "'null' is reserved"
    assert pages.field_errors(response, "id_labels-1-key") == ""


@pytest.mark.parametrize(
    ("overrides", "field_id", "expected"),
    [
        ({"audit_sample": "150"}, "id_audit_sample", "must be a percentage from 0 to 100"),
        ({"audit_sample": "NaN"}, "id_audit_sample", "must be a percentage from 0 to 100"),
        ({"audit_sample": "lots"}, "id_audit_sample", "must be a percentage from 0 to 100"),
        ({"lease_minutes": "abc"}, "id_lease_minutes", "must be from 1 minute to 7 days"),
        ({"lease_minutes": "0.5"}, "id_lease_minutes", "must be from 1 minute to 7 days"),
        ({"overlap": "two"}, "id_overlap", "must be a whole number"),
        (
            {"overlap": "2", "consensus": "majority", "consensus_k": "3"},
            "id_consensus_k",
            "must be more than half of overlap",
        ),
        ({"consensus": "coin-toss"}, "id_consensus", "must be unanimous or a majority"),
        ({"review_policy": "sometimes"}, "id_review_policy", "must be one of the choices"),
        ({"task_type": "telepathy"}, "id_task_type", "Unknown task type 'telepathy'"),
    ],
)
def test_each_setting_error_is_a_400_beside_its_field(
    web_for, pages, lead, overrides, field_id, expected
):
    response = web_for(lead).post(URL, form(**overrides))
    assert response.status_code == 400
    assert expected in pages.field_errors(response, field_id)
    assert Project.objects.count() == 0


def test_a_schema_wide_error_is_shown_above_the_labels(web_for, pages, lead):
    response = web_for(lead).post(URL, form(POS))  # one label, single-label
    assert response.status_code == 400
    assert "A single-label project needs at least two labels" in pages.text(response)
    assert Project.objects.count() == 0


def test_add_label_without_javascript_adds_a_row_and_keeps_the_input(web_for, pages, lead):
    response = web_for(lead).post(URL, form(POS, NEG, add_label="1", name="Keep me"))
    assert response.status_code == 200
    assert Project.objects.count() == 0
    assert pages.input_value(response, "id_labels-2-key") == ""
    assert pages.input_value(response, "id_labels-1-key") == "neg"
    assert pages.input_value(response, "id_name") == "Keep me"
    assert 'name="labels-TOTAL_FORMS" value="3"' in pages.text(response)


def test_a_tampered_label_table_is_a_400(web_for, pages, lead):
    data = form()
    del data["labels-TOTAL_FORMS"]
    response = web_for(lead).post(URL, data)
    assert response.status_code == 400
    assert "The label table was incomplete" in pages.text(response)
    assert Project.objects.count() == 0


def test_csrf_token_is_required(csrf_client, lead):
    client = csrf_client(lead)
    assert client.post(URL, form()).status_code == 403
    assert Project.objects.count() == 0
    token = client.token(URL)
    response = client.post(URL, {**form(), "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Project.objects.count() == 1


def test_anonymous_cannot_create(web_for):
    response = web_for(None).post(URL, form())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Project.objects.count() == 0
