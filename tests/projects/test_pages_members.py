"""The members tab: the list for everyone in the project; adding, changing
roles, removing, inviting and revoking for those who manage members."""

from __future__ import annotations

import re

import pytest

from projects import services
from projects.models import Invite, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


def roles_of(project, user) -> list[str] | None:
    membership = Membership.objects.filter(project=project, user=user).first()
    return membership.roles if membership else None


def test_members_see_the_list_without_controls(web_for, pages, project, annotator):
    body = pages.text(web_for(annotator).get(f"/projects/{project.pk}/members/"))
    for name in ("lead", "annotator", "reviewer"):
        assert f'<th scope="row">{name}' in body
    row = body[body.index('<th scope="row">reviewer') :]
    assert "Reviewer" in row[: row.index("</tr>")]  # roles as text
    assert "Add a member" not in body
    assert "Invite by email" not in body
    assert "Pending invites" not in body
    assert 'type="checkbox"' not in body
    assert "/remove/" not in body


def test_lead_sees_role_checkboxes_and_forms(web_for, pages, project, lead, annotator):
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/members/"))
    assert f'id="id_m{annotator.pk}_roles_2"' in body  # annotator's Annotator box
    assert re.search(
        rf'<input type="checkbox" name="roles" value="annotator" id="id_m{annotator.pk}_roles_2"[^>]*checked',
        body,
    )
    assert '<legend class="visually-hidden">Roles of annotator</legend>' in body
    assert "Add a member" in body and "Invite by email" in body


def test_add_an_existing_user(web_for, pages, project, lead, outsider):
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/members/add/",
        {"username": "outsider", "roles": ["reviewer", "annotator"]},
    )
    assert response.status_code == 302
    assert roles_of(project, outsider) == ["reviewer", "annotator"]
    assert "outsider is a member as reviewer, annotator." in pages.messages(
        client.get(response["Location"])
    )


def test_add_with_htmx_returns_the_partial(web_for, pages, project, lead, outsider):
    response = web_for(lead).post(
        f"/projects/{project.pk}/members/add/",
        {"username": "outsider", "roles": ["annotator"]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert '<th scope="row">outsider' in pages.text(response)
    assert "outsider is a member" in pages.messages(response)


@pytest.mark.parametrize(
    ("data", "field_id", "expected"),
    [
        (
            {"username": "nobody", "roles": ["annotator"]},
            "id_add_username",
            "No active user has that username.",
        ),
        ({"username": "", "roles": ["annotator"]}, "id_add_username", "Username is required"),
        ({"username": "outsider"}, "id_add_roles", "Roles must be a non-empty list"),
        ({"username": "outsider", "roles": ["owner"]}, "id_add_roles", "Unknown role 'owner'"),
    ],
)
def test_bad_add_is_a_400_beside_the_field(
    web_for, pages, project, lead, outsider, data, field_id, expected
):
    response = web_for(lead).post(f"/projects/{project.pk}/members/add/", data)
    assert response.status_code == 400
    assert expected in pages.field_errors(response, field_id)
    assert pages.input_value(response, "id_add_username") == data["username"]
    assert roles_of(project, outsider) is None


def test_inactive_user_cannot_be_added(web_for, pages, project, lead, make_user):
    gone = make_user("gone", is_active=False)
    response = web_for(lead).post(
        f"/projects/{project.pk}/members/add/", {"username": "gone", "roles": ["annotator"]}
    )
    assert response.status_code == 400
    assert roles_of(project, gone) is None


def test_change_roles(web_for, project, lead, annotator):
    response = web_for(lead).post(
        f"/projects/{project.pk}/members/{annotator.pk}/roles/", {"roles": ["reviewer", "lead"]}
    )
    assert response.status_code == 302
    assert roles_of(project, annotator) == ["lead", "reviewer"]


def test_empty_roles_are_a_400_on_that_row(web_for, pages, project, lead, annotator):
    response = web_for(lead).post(f"/projects/{project.pk}/members/{annotator.pk}/roles/", {})
    assert response.status_code == 400
    assert "Roles must be a non-empty list" in pages.field_errors(
        response, f"id_m{annotator.pk}_roles"
    )
    assert roles_of(project, annotator) == ["annotator"]


def test_roles_of_a_non_member_are_404(web_for, project, lead, outsider):
    response = web_for(lead).post(
        f"/projects/{project.pk}/members/{outsider.pk}/roles/", {"roles": ["annotator"]}
    )
    assert response.status_code == 404
    assert roles_of(project, outsider) is None


@pytest.mark.parametrize("htmx", [False, True])
def test_the_last_lead_cannot_be_removed(web_for, pages, project, lead, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = web_for(lead).post(f"/projects/{project.pk}/members/{lead.pk}/remove/", **headers)
    assert response.status_code == 409
    assert "A project needs at least one lead" in pages.messages(response)
    assert roles_of(project, lead) == ["lead"]


def test_the_last_lead_cannot_drop_the_lead_role(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/members/{lead.pk}/roles/", {"roles": ["annotator"]}
    )
    assert response.status_code == 409
    assert "A project needs at least one lead" in pages.messages(response)
    assert roles_of(project, lead) == ["lead"]


def test_remove_a_member(web_for, pages, project, lead, annotator):
    client = web_for(lead)
    response = client.post(f"/projects/{project.pk}/members/{annotator.pk}/remove/")
    assert response.status_code == 302
    assert roles_of(project, annotator) is None
    assert "annotator was removed from the project." in pages.messages(
        client.get(response["Location"])
    )
    # And they lose the project at once.
    assert web_for(annotator).get(f"/projects/{project.pk}/").status_code == 404


def test_a_lead_who_leaves_goes_to_the_list(web_for, project, lead, reviewer):
    services.membership_set(project=project, user=reviewer, roles=["lead"])
    client = web_for(lead)
    response = client.post(f"/projects/{project.pk}/members/{lead.pk}/remove/")
    assert response.status_code == 302 and response["Location"] == "/"
    htmx = web_for(reviewer).post(
        f"/projects/{project.pk}/members/{reviewer.pk}/remove/", HTTP_HX_REQUEST="true"
    )
    # The reviewer was the last lead now: refused.
    assert htmx.status_code == 409


def test_htmx_leave_redirects_the_browser(web_for, project, lead, reviewer):
    services.membership_set(project=project, user=reviewer, roles=["lead"])
    response = web_for(lead).post(
        f"/projects/{project.pk}/members/{lead.pk}/remove/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/"


# --- invites -------------------------------------------------------------------


def test_invite_link_is_shown_once_after_the_redirect(web_for, pages, project, lead):
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/invites/", {"email": "new@example.org", "roles": ["annotator"]}
    )
    assert response.status_code == 302
    assert "invite/" not in response["Location"]  # the token never travels in a URL
    first = client.get(response["Location"])
    link = pages.input_value(first, "invite-link")
    assert link.startswith("http://testserver/accounts/invite/")
    assert "shown only once" in pages.text(first)
    assert "new@example.org" in pages.text(first)  # in the pending list
    second = client.get(response["Location"])
    assert pages.input_value(second, "invite-link") is None
    # The link works: it opens the accept page for that invite.
    accept = web_for(None).get(link.removeprefix("http://testserver"))
    assert accept.status_code == 200
    assert "Join “Sentiment”" in pages.text(accept)


def test_invite_link_of_one_project_is_not_shown_on_another(
    web_for, pages, project, lead, make_project
):
    other = make_project(lead, name="Other")
    client = web_for(lead)
    client.post(
        f"/projects/{project.pk}/invites/", {"email": "new@example.org", "roles": ["annotator"]}
    )
    assert pages.input_value(client.get(f"/projects/{other.pk}/members/"), "invite-link") is None


def test_htmx_invite_shows_the_link_in_the_partial(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/invites/",
        {"email": "new@example.org", "roles": ["reviewer"]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert pages.input_value(response, "invite-link").startswith(
        "http://testserver/accounts/invite/"
    )
    invite = Invite.objects.get(project=project)
    assert invite.roles == ["reviewer"]


@pytest.mark.parametrize(
    ("data", "field_id", "expected"),
    [
        (
            {"email": "not-an-email", "roles": ["annotator"]},
            "id_invite_email",
            "Email is not a valid email address",
        ),
        ({"email": "a@example.org"}, "id_invite_roles", "Roles must be a non-empty list"),
    ],
)
def test_bad_invite_is_a_400(web_for, pages, project, lead, data, field_id, expected):
    response = web_for(lead).post(f"/projects/{project.pk}/invites/", data)
    assert response.status_code == 400
    assert expected in pages.field_errors(response, field_id)
    assert not Invite.objects.exists()


def test_revoke_an_invite(web_for, pages, project, lead):
    token, invite = services.invite_create(
        project=project, email="new@example.org", roles=["annotator"], user=lead
    )
    client = web_for(lead)
    assert "new@example.org" in pages.text(client.get(f"/projects/{project.pk}/members/"))
    response = client.post(f"/projects/{project.pk}/invites/{invite.pk}/revoke/")
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    page = client.get(response["Location"])
    assert "The invite for new@example.org was revoked." in pages.messages(page)
    assert "No pending invites." in pages.text(page)
    assert services.invite_lookup(token=token) is None


def test_revoking_another_projects_invite_is_404(web_for, project, lead, make_project, make_user):
    someone = make_user("someone")
    other = make_project(someone, name="Other")
    _, invite = services.invite_create(
        project=other, email="x@example.org", roles=["annotator"], user=someone
    )
    response = web_for(lead).post(f"/projects/{project.pk}/invites/{invite.pk}/revoke/")
    assert response.status_code == 404
    invite.refresh_from_db()
    assert invite.revoked_at is None


def test_archived_project_refuses_member_changes(
    web_for, pages, project, lead, annotator, outsider
):
    services.project_archive(project=project, user=lead)
    client = web_for(lead)
    page = client.get(f"/projects/{project.pk}/members/")
    assert "Add a member" not in pages.text(page)
    for url, data in [
        (f"/projects/{project.pk}/members/add/", {"username": "outsider", "roles": ["annotator"]}),
        (f"/projects/{project.pk}/members/{annotator.pk}/remove/", {}),
        (f"/projects/{project.pk}/invites/", {"email": "a@example.org", "roles": ["annotator"]}),
    ]:
        response = client.post(url, data)
        assert response.status_code == 409
        assert "read-only" in pages.messages(response)
    assert roles_of(project, outsider) is None
    assert roles_of(project, annotator) == ["annotator"]
    assert not Invite.objects.exists()
