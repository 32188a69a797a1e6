"""Every form post needs the CSRF token, as a browser sends it: without it
the answer is 403 and nothing changes; with it (form field or the htmx
header) the write goes through."""

from __future__ import annotations

import pytest

from projects import services
from projects.models import GuidelineDraft, Invite, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


@pytest.fixture
def invite(project, lead):
    return services.invite_create(
        project=project, email="a@example.org", roles=["annotator"], user=lead
    )[1]


def settings_data(name: str) -> dict[str, str]:
    return {
        "name": name, "description": "", "time_zone": "UTC", "overlap": "2", "consensus": "unanimous",
        "review_policy": "all", "audit_sample": "0", "lease_minutes": "30",
    }  # fmt: skip


# (path after /projects/<id>/, form data, how to see that it happened)
def cases(project, lead, annotator, outsider, invite):
    return {
        "settings": ("settings/save/", settings_data("Renamed"), lambda: project.__class__.objects.get(pk=project.pk).name == "Renamed"),
        "schema": (
            "schema/",
            {"labels-TOTAL_FORMS": "2", "labels-INITIAL_FORMS": "0", "labels-0-key": "a", "labels-0-name": "A", "labels-1-key": "b", "labels-1-name": "B"},
            lambda: project.__class__.objects.get(pk=project.pk).config_version == 2,
        ),
        "archive": ("archive/", {}, lambda: project.__class__.objects.get(pk=project.pk).is_archived),
        "member_add": ("members/add/", {"username": outsider.username, "roles": ["annotator"]}, lambda: Membership.objects.filter(project=project, user=outsider).exists()),
        "member_roles": (f"members/{annotator.pk}/roles/", {"roles": ["reviewer"]}, lambda: Membership.objects.get(project=project, user=annotator).roles == ["reviewer"]),
        "member_remove": (f"members/{annotator.pk}/remove/", {}, lambda: not Membership.objects.filter(project=project, user=annotator).exists()),
        "invite": ("invites/", {"email": "b@example.org", "roles": ["reviewer"]}, lambda: Invite.objects.filter(email="b@example.org").exists()),
        "revoke": (f"invites/{invite.pk}/revoke/", {}, lambda: Invite.objects.get(pk=invite.pk).revoked_at is not None),
        "draft": ("guidelines/draft/", {"body": "# Draft"}, lambda: GuidelineDraft.objects.get(project=project).body == "# Draft"),
        "publish": ("guidelines/publish/", {"body": "# V1", "note": ""}, lambda: project.guideline_versions.exists()),
    }  # fmt: skip


NAMES = [
    "settings",
    "schema",
    "archive",
    "member_add",
    "member_roles",
    "member_remove",
    "invite",
    "revoke",
    "draft",
    "publish",
]


@pytest.mark.parametrize("name", NAMES)
def test_a_post_without_the_token_is_refused(
    csrf_client, project, lead, annotator, outsider, invite, name
):
    path, data, happened = cases(project, lead, annotator, outsider, invite)[name]
    client = csrf_client(lead)
    response = client.post(f"/projects/{project.pk}/{path}", data)
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert not happened()
    # A token from another session does not help either.
    stranger = csrf_client(outsider)
    response = client.post(
        f"/projects/{project.pk}/{path}", {**data, "csrfmiddlewaretoken": stranger.token()}
    )
    assert response.status_code == 403
    assert not happened()


@pytest.mark.parametrize("name", NAMES)
def test_a_post_with_the_form_token_goes_through(
    csrf_client, project, lead, annotator, outsider, invite, name
):
    path, data, happened = cases(project, lead, annotator, outsider, invite)[name]
    client = csrf_client(lead)
    token = client.token(f"/projects/{project.pk}/")
    response = client.post(f"/projects/{project.pk}/{path}", {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert happened()


def test_htmx_sends_the_token_in_a_header(csrf_client, project, lead):
    client = csrf_client(lead)
    page = client.get(f"/projects/{project.pk}/settings/")
    assert "hx-headers='{&quot;X-CSRFToken&quot;" not in page.content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page.content.decode()
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/projects/{project.pk}/settings/save/",
        settings_data("Via header"),
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.name == "Via header"


def test_preview_and_new_project_need_the_token_too(csrf_client, project, lead):
    client = csrf_client(lead)
    assert (
        client.post(f"/projects/{project.pk}/guidelines/preview/", {"body": "# x"}).status_code
        == 403
    )
    assert client.post("/projects/new/", {"name": "x"}).status_code == 403
