"""The settings tab: project settings, the label schema with its dry run and
confirmation, the version list, archive and unarchive."""

from __future__ import annotations

import re

import pytest

from projects import services
from projects.models import ConfigVersion
from tests.page_forms import settings_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


def schema_form(labels: list[dict], *, initial: int = 0, **extra: str) -> dict[str, str]:
    data = {
        "labels-TOTAL_FORMS": str(len(labels)),
        "labels-INITIAL_FORMS": str(initial),
        "labels-MIN_NUM_FORMS": "0",
        "labels-MAX_NUM_FORMS": "500",
        **extra,
    }
    for index, label in enumerate(labels):
        for name in ("key", "name", "hotkey", "color", "description"):
            data[f"labels-{index}-{name}"] = label.get(name, "")
    return data


CURRENT = [
    {"key": "pos", "name": "Positive", "hotkey": "p", "color": "#2e7d32"},
    {"key": "neg", "name": "Negative", "hotkey": "n", "color": "#c62828"},
    {"key": "neu", "name": "Neutral", "hotkey": "u"},
]


def confirm_key(response) -> str:
    return re.search(r'name="confirm" value="([0-9a-f]{64})"', response.content.decode())[1]


# --- the page ---------------------------------------------------------------


def test_the_page_is_prefilled_from_the_project(web_for, pages, project, lead):
    services.project_update(project=project, user=lead, audit_sample=0.125, lease_seconds=5400)
    response = web_for(lead).get(f"/projects/{project.pk}/settings/")
    assert response.status_code == 200
    assert pages.input_value(response, "id_name") == "Sentiment"
    assert pages.input_value(response, "id_audit_sample") == "12.5"  # percent
    assert pages.input_value(response, "id_lease_minutes") == "90"  # minutes
    assert pages.input_value(response, "id_labels-2-key") == "neu"
    assert pages.input_value(response, "id_labels-0-color") == "#2e7d32"
    body = pages.text(response)
    assert "Schema versions" in body and ">created<" in body


# --- settings ---------------------------------------------------------------


def test_lead_saves_settings_and_is_redirected(web_for, pages, project, lead):
    client = web_for(lead)
    data = settings_form(
        name="Renamed", overlap="3", consensus="majority", consensus_k="2", audit_sample="10",
        lease_minutes="1.5", review_policy="all", time_zone="Asia/Tokyo",
    )  # fmt: skip
    response = client.post(f"/projects/{project.pk}/settings/save/", data)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/settings/"
    project.refresh_from_db()
    assert (project.name, project.overlap, project.consensus_majority) == ("Renamed", 3, 2)
    assert str(project.audit_sample) == "0.1000"
    assert project.lease_seconds == 90
    assert project.review_policy == "all"
    assert project.time_zone == "Asia/Tokyo"
    assert "Settings saved." in pages.messages(client.get(response["Location"]))


def test_htmx_save_returns_the_partial_with_the_message(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/settings/save/",
        settings_form(name="Via htmx"),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert response["HX-Replace-Url"] == f"/projects/{project.pk}/settings/"
    assert "Settings saved." in pages.messages(response)
    assert pages.input_value(response, "id_name") == "Via htmx"


@pytest.mark.parametrize("htmx", [False, True])
def test_bad_settings_are_a_400_with_the_error_and_nothing_saved(
    web_for, pages, project, lead, htmx
):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = web_for(lead).post(
        f"/projects/{project.pk}/settings/save/",
        settings_form(name="  ", consensus="majority", consensus_k="1", overlap="2"),
        **headers,
    )
    assert response.status_code == 400
    assert pages.is_partial(response) is htmx
    assert pages.field_errors(response, "id_name") == "Name is required"
    assert "must be more than half of overlap" in pages.field_errors(response, "id_consensus_k")
    assert pages.input_value(response, "id_consensus_k") == "1"
    project.refresh_from_db()
    assert project.name == "Sentiment" and project.consensus_majority is None
    assert "Nothing was saved" in pages.messages(response)


# --- the label schema ---------------------------------------------------------


def test_adding_a_label_makes_a_new_version(web_for, pages, project, lead):
    labels = CURRENT + [{"key": "mixed", "name": "Mixed", "hotkey": "m", "color": "#6A1B9A"}]
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/schema/", schema_form(labels, initial=3, note="mixed feelings")
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.config_version == 2
    version = ConfigVersion.objects.get(project=project, number=2)
    assert version.note == "mixed feelings"
    assert version.config["labels"][-1] == {
        "key": "mixed",
        "name": "Mixed",
        "hotkey": "m",
        "color": "#6a1b9a",
    }
    page = client.get(response["Location"])
    assert "Label schema saved as version 2." in pages.messages(page)
    assert "Adds label &#x27;mixed&#x27;" in pages.text(page)  # in the version list


def test_an_unchanged_schema_makes_no_version(web_for, pages, project, lead):
    client = web_for(lead)
    response = client.post(f"/projects/{project.pk}/schema/", schema_form(CURRENT, initial=3))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.config_version == 1
    assert "The label schema is unchanged." in pages.messages(client.get(response["Location"]))


def test_removing_a_used_label_shows_a_dry_run_then_applies_on_confirm(
    web_for, pages, project, lead, annotator, reviewer, annotate
):
    annotate(project, (annotator, "neu"), (reviewer, "pos"), text="one")
    annotate(project, (annotator, "neg"), text="two")
    client = web_for(lead)
    url = f"/projects/{project.pk}/schema/"
    without_neutral = schema_form(CURRENT[:2], initial=3)

    dry = client.post(url, without_neutral)
    assert dry.status_code == 200
    body = pages.text(dry)
    assert "This change affects existing annotations" in body
    assert "<strong>1 of 3</strong> annotations" in body
    assert "Removes label &#x27;neu&#x27;" in body
    assert "Confirm and apply" in body
    project.refresh_from_db()
    assert project.config_version == 1  # nothing applied yet
    # The form still holds what the lead typed, so confirming re-posts it.
    assert pages.input_value(dry, "id_labels-1-key") == "neg"

    applied = client.post(url, {**without_neutral, "confirm": confirm_key(dry)})
    assert applied.status_code == 302
    project.refresh_from_db()
    assert project.config_version == 2
    impact = ConfigVersion.objects.get(project=project, number=2).impact
    assert impact["confirmed"] is True
    assert impact["affected_annotations"] == 1


def test_a_confirmation_for_other_rows_shows_a_new_dry_run(
    web_for, pages, project, lead, annotator, annotate
):
    annotate(project, (annotator, "neu"), text="one")
    annotate(project, (annotator, "neg"), text="two")
    client = web_for(lead)
    url = f"/projects/{project.pk}/schema/"
    dry = client.post(url, schema_form(CURRENT[:2], initial=3))
    # The lead also removes "neg" after seeing the dry run for "neu" only.
    changed = client.post(
        url,
        {
            **schema_form(CURRENT[:1] + [{"key": "x", "name": "X"}], initial=3),
            "confirm": confirm_key(dry),
        },
    )
    assert changed.status_code == 200
    assert "Removes label &#x27;neg&#x27;" in pages.text(changed)
    project.refresh_from_db()
    assert project.config_version == 1


def test_removing_an_unused_label_needs_no_confirmation(web_for, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/schema/", schema_form(CURRENT[:2], initial=3)
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.config_version == 2


def test_switching_to_multi_label_with_annotations_needs_confirmation(
    web_for, pages, project, lead, annotator, annotate
):
    annotate(project, (annotator, "pos"))
    response = web_for(lead).post(
        f"/projects/{project.pk}/schema/", schema_form(CURRENT, initial=3, multi_label="on")
    )
    assert response.status_code == 200
    assert "<strong>1 of 1</strong> annotation " in pages.text(response)
    assert "Switches to multi-label" in pages.text(response)


def test_bad_schema_is_a_400_beside_the_row_and_nothing_changes(web_for, pages, project, lead):
    labels = CURRENT + [{"key": "bad key!", "name": "", "hotkey": "?"}]
    response = web_for(lead).post(f"/projects/{project.pk}/schema/", schema_form(labels, initial=3))
    assert response.status_code == 400
    assert "Must be 1-64 letters" in pages.field_errors(response, "id_labels-3-key")
    assert pages.field_errors(response, "id_labels-3-name") == "Required"
    assert "reserved by the workspace" in pages.field_errors(response, "id_labels-3-hotkey")
    assert pages.input_value(response, "id_labels-3-key") == "bad key!"
    project.refresh_from_db()
    assert project.config_version == 1


def test_add_label_without_javascript_on_the_settings_page(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/schema/", schema_form(CURRENT, initial=3, add_label="1")
    )
    assert response.status_code == 200
    assert pages.input_value(response, "id_labels-3-key") == ""
    assert pages.input_value(response, "id_labels-2-key") == "neu"
    project.refresh_from_db()
    assert project.config_version == 1


# --- archive ------------------------------------------------------------------


def test_archive_makes_the_project_read_only_until_unarchived(
    web_for, pages, project, lead, annotator
):
    client = web_for(lead)
    response = client.post(f"/projects/{project.pk}/archive/")
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.is_archived

    # Everyone sees the banner, in words.
    overview = web_for(annotator).get(f"/projects/{project.pk}/")
    assert "Archived — read-only." in pages.text(overview)
    settings_page = client.get(f"/projects/{project.pk}/settings/")
    assert settings_page.status_code == 200
    assert '<fieldset class="plain" disabled>' in pages.text(settings_page)
    assert "Unarchive project" in pages.text(settings_page)

    # Writes are refused with 409 and a clear message; nothing changes.
    for url, data in [
        (f"/projects/{project.pk}/settings/save/", settings_form(name="Changed")),
        (f"/projects/{project.pk}/schema/", schema_form(CURRENT[:2], initial=3)),
        (f"/projects/{project.pk}/archive/", {}),
    ]:
        refused = client.post(url, data)
        assert refused.status_code == 409
        assert "archived, so it is read-only" in pages.messages(refused)
    project.refresh_from_db()
    assert project.name == "Sentiment" and project.config_version == 1

    assert client.post(f"/projects/{project.pk}/unarchive/").status_code == 302
    project.refresh_from_db()
    assert not project.is_archived
    assert (
        client.post(
            f"/projects/{project.pk}/settings/save/", settings_form(name="Changed")
        ).status_code
        == 302
    )


def test_htmx_archive_returns_the_partial_with_the_banner(web_for, pages, project, lead):
    response = web_for(lead).post(f"/projects/{project.pk}/archive/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert "Archived — read-only." in pages.text(response)
    assert "Project archived" in pages.messages(response)


def test_refused_write_on_archived_project_is_a_partial_for_htmx(web_for, pages, project, lead):
    services.project_archive(project=project, user=lead)
    response = web_for(lead).post(
        f"/projects/{project.pk}/settings/save/", settings_form(name="X"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert pages.is_partial(response)
    assert "Nothing was changed" in pages.text(response)


def test_overlap_above_the_annotators_is_saved_with_a_warning(web_for, pages, project, lead):
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/settings/save/",
        settings_form(overlap="3"),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    shown = pages.messages(response)
    assert "Settings saved." in shown
    assert "Overlap is 3 but the project has 1 annotator" in shown
    # The settings page keeps saying it until the team or the overlap changes.
    page = client.get(f"/projects/{project.pk}/settings/")
    assert "Overlap is 3 but the project has 1 annotator" in pages.text(page)
    services.project_update(project=project, user=lead, overlap=1)
    page = client.get(f"/projects/{project.pk}/settings/")
    assert "Overlap is" not in pages.text(page)
