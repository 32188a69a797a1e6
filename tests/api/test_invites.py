"""Invites: the link is shown once, accepted through the HTML page, single use,
expiring and bound to the invited email and roles (SECURITY.md D3)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from projects import access
from projects.models import Invite, Membership

from .conftest import fields_of

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "a brand new passphrase 91"


def invites_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/invites/"


def invite(api, project, email="new.person@example.org", roles=("annotator",)) -> dict:
    response = api.post(invites_url(project), {"email": email, "roles": list(roles)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def accept(path: str, username: str = "newperson", client: Client | None = None):
    client = client or Client()
    return client.post(
        path, {"username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )


def test_create_returns_the_link_once(api_for, project, lead):
    api = api_for(lead)
    body = invite(api, project)
    path = urlparse(body["url"]).path
    assert path.startswith("/accounts/invite/")
    token = path.rstrip("/").rsplit("/", 1)[1]
    listed = api.get(invites_url(project))
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert row["email"] == "new.person@example.org"
    assert "url" not in row
    assert token not in listed.content.decode()
    # Only a digest is stored (like API tokens).
    assert not Invite.objects.filter(digest=token).exists()


def test_accepting_creates_the_user_and_membership(api_for, project, lead):
    body = invite(api_for(lead), project, roles=["annotator", "reviewer"])
    path = urlparse(body["url"]).path
    client = Client()
    assert client.get(path).status_code == 200

    response = accept(path, client=client)

    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/"
    user = User.objects.get(username="newperson")
    assert user.email == "new.person@example.org"
    assert user.check_password(NEW_PASSWORD)
    assert not (user.is_staff or user.is_superuser)
    assert Membership.objects.get(project=project, user=user).roles == ["reviewer", "annotator"]
    assert access.user_permissions(user, project) == {access.VIEW, access.ANNOTATE, access.REVIEW}
    # The new user is logged in on that client.
    assert client.get("/api/v1/me/").json()["username"] == "newperson"
    assert Invite.objects.get(pk=body["id"]).accepted_by == user


def test_invite_grants_nothing_in_other_projects(api_for, project, lead, make_project):
    other = make_project(lead, name="Other")
    path = urlparse(invite(api_for(lead), project)["url"]).path
    accept(path)
    user = User.objects.get(username="newperson")
    assert access.user_permissions(user, other) == frozenset()


def test_used_twice_the_second_is_404(api_for, project, lead):
    path = urlparse(invite(api_for(lead), project)["url"]).path
    assert accept(path, "first").status_code == 302
    assert Client().get(path).status_code == 404
    assert accept(path, "second").status_code == 404
    assert not User.objects.filter(username="second").exists()


def test_expired_invite_is_404(api_for, project, lead):
    body = invite(api_for(lead), project)
    Invite.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    path = urlparse(body["url"]).path
    assert Client().get(path).status_code == 404
    assert accept(path).status_code == 404
    assert not User.objects.filter(username="newperson").exists()


def test_revoked_invite_is_404(api_for, project, lead):
    api = api_for(lead)
    body = invite(api, project)
    assert api.delete(f"{invites_url(project)}{body['id']}/").status_code == 204
    assert accept(urlparse(body["url"]).path).status_code == 404
    assert api.get(invites_url(project)).json()["results"] == []


def test_unknown_token_is_404(db):
    assert Client().get("/accounts/invite/not-a-real-token/").status_code == 404


def test_bad_password_keeps_the_invite_usable(api_for, project, lead):
    path = urlparse(invite(api_for(lead), project)["url"]).path
    response = Client().post(path, {"username": "weak", "password1": "123", "password2": "123"})
    assert response.status_code == 400  # the form again, with errors
    assert not User.objects.filter(username="weak").exists()
    assert accept(path).status_code == 302


def test_taken_username_is_refused(api_for, project, lead):
    path = urlparse(invite(api_for(lead), project)["url"]).path
    response = accept(path, username="LEAD")
    assert response.status_code == 400
    assert User.objects.filter(username__iexact="lead").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "roles": ["annotator"]}, "email"),
        ({"email": 5, "roles": ["annotator"]}, "email"),
        ({"email": {"@": 1}, "roles": ["annotator"]}, "email"),
        ({"email": "a@example.org", "roles": ["owner"]}, "roles"),
        ({"email": "a@example.org"}, "roles"),
    ],
)
def test_invite_input_is_validated(api_for, project, lead, body, field):
    response = api_for(lead).post(invites_url(project), body, format="json")
    assert response.status_code == 400, response.content
    assert field in fields_of(response)
    assert not Invite.objects.exists()
