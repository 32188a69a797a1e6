"""The review settings on the settings tab: audit seed, anonymous review
and the reason codes box."""

from __future__ import annotations

import pytest

from tests.page_forms import settings_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


def test_a_lead_sets_the_review_settings(web_for, pages, project, lead):
    client = web_for(lead)
    page = client.get(f"/projects/{project.pk}/settings/")
    assert "guideline_gap: Guideline gap" in page.content.decode()
    data = settings_form(
        audit_seed="42",
        anonymous_review="anonymous",
        reason_codes="gap: Guideline gap\n\nslip: Annotator slip\nunclear",
    )
    response = client.post(f"/projects/{project.pk}/settings/save/", data)
    assert response.status_code == 302, pages.messages(response)
    project.refresh_from_db()
    assert project.audit_seed == 42 and project.anonymous_review is True
    assert project.reason_codes == [
        {"key": "gap", "name": "Guideline gap"},
        {"key": "slip", "name": "Annotator slip"},
        {"key": "unclear", "name": "unclear"},
    ]
    again = client.post(
        f"/projects/{project.pk}/settings/save/",
        settings_form(anonymous_review="named", reason_codes="gap: Guideline gap"),
    )
    assert again.status_code == 302
    project.refresh_from_db()
    assert project.anonymous_review is False and len(project.reason_codes) == 1


def test_bad_reason_codes_name_their_line(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/settings/save/",
        settings_form(reason_codes="gap: Gap\nBad Key: Nope", audit_seed="-1"),
    )
    assert response.status_code == 400
    assert "Line 2: key must be" in pages.field_errors(response, "id_reason_codes")
    assert pages.field_errors(response, "id_audit_seed")
    project.refresh_from_db()
    assert project.reason_codes[0]["key"] == "guideline_gap" and project.audit_seed == 0
