"""Free text is judged by one set of rules (projects.fields) wherever it is
sent: a NUL character, which PostgreSQL cannot store, is a 400 naming the
field for every operation that takes text, through the API and the pages;
a skip reason follows the same rules on both."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from annotation.models import Assignment
from items.services import ItemRow, items_create
from projects.fields import reason_clean, text_clean
from projects.models import GuidelineDraft, GuidelineVersion, Project
from projects.services import project_config

from .conftest import fields_of

pytestmark = pytest.mark.django_db

NUL = "must not contain NUL characters"


@pytest.fixture
def lease(project, annotator, api_for):
    items_create(
        project=project, rows=[ItemRow({"text": "one"})], config=project_config(project).config
    )
    return api_for(annotator).post(f"/api/v1/projects/{project.pk}/claim/").json()


def test_reason_rules():
    assert reason_clean("  unclear  ", max_length=10) == "unclear"
    assert reason_clean(None, max_length=10) == ""
    for bad, reason in [
        ("a\x00b", NUL),
        ("x" * 11, "is longer than 10 characters"),
        (7, "must be text"),
        ("  ", "is required"),
    ]:
        with pytest.raises(ValidationError) as err:
            reason_clean(bad, max_length=10, required="is required")
        assert err.value.detail == [reason]


def test_text_rules():
    assert text_clean(" a ", max_length=5, too_long="long", strip=True) == "a"
    with pytest.raises(ValidationError) as err:
        text_clean("a\x00", max_length=5, too_long="long")
    assert err.value.detail == [NUL]


def test_a_skip_reason_with_nul_is_refused_by_the_api(api_for, annotator, lease):
    response = api_for(annotator).post(
        f"/api/v1/assignments/{lease['id']}/skip/", {"reason": "bad\x00text"}, format="json"
    )
    assert response.status_code == 400
    assert fields_of(response) == {"reason": NUL}
    assert Assignment.objects.get(pk=lease["id"]).state == "active"


def test_a_skip_reason_with_nul_is_refused_by_the_workspace(web_for, project, annotator, lease):
    response = web_for(annotator).post(
        f"/projects/{project.pk}/annotate/{lease['id']}/skip/",
        {"reason": "bad\x00text"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    assert Assignment.objects.get(pk=lease["id"]).state == "active"


def test_project_text_with_nul_is_refused(api_for, project, lead):
    client = api_for(lead)
    created = client.post(
        "/api/v1/projects/",
        {"name": "a\x00", "task_type": "classification", "config": project_config(project).config},
        format="json",
    )
    assert created.status_code == 400 and fields_of(created) == {"name": NUL}
    patched = client.patch(
        f"/api/v1/projects/{project.pk}/", {"description": "a\x00"}, format="json"
    )
    assert patched.status_code == 400 and fields_of(patched) == {"description": NUL}
    assert Project.objects.count() == 1


def test_guideline_and_config_text_with_nul_is_refused(api_for, project, lead):
    client, base = api_for(lead), f"/api/v1/projects/{project.pk}"
    draft = client.put(f"{base}/guidelines/draft/", {"body": "a\x00"}, format="json")
    assert draft.status_code == 400 and fields_of(draft) == {"body": NUL}
    note = client.post(f"{base}/guidelines/", {"body": "text", "note": "a\x00"}, format="json")
    assert note.status_code == 400 and fields_of(note) == {"note": NUL}
    config = client.post(
        f"{base}/config/",
        {"config": project_config(project).config, "note": "a\x00"},
        format="json",
    )
    assert config.status_code == 400 and fields_of(config) == {"note": NUL}
    assert not GuidelineVersion.objects.filter(project=project).exists()
    assert GuidelineDraft.objects.get(project=project).body == ""


def test_the_settings_page_refuses_nul(web_for, project, lead):
    # Django's form field refuses it first, in its own words.
    response = web_for(lead).post(
        f"/projects/{project.pk}/settings/save/",
        {"name": "a\x00", "time_zone": "UTC", "overlap": "2", "consensus": "unanimous"},
    )
    assert response.status_code == 400
    assert "Null characters are not allowed" in response.content.decode()
    project.refresh_from_db()
    assert project.name == "Sentiment"
