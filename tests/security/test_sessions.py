"""Session lifecycle (SECURITY.md D7): a password change revokes every other
session and every API token; the session id rotates at login; logout is a
server-side POST; cookies are HttpOnly and SameSite."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new passphrase 64"


def logged_in(username: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def change_password(client: Client):
    return client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )


def test_password_change_revokes_other_sessions_and_tokens(lead, api_for):
    here = logged_in("lead")
    elsewhere = logged_in("lead")
    api = api_for(lead)
    assert api.get("/api/v1/me/").status_code == 200

    response = change_password(here)

    assert response.status_code == 302
    # The other browser is sent to the login page, its session is gone.
    other = elsewhere.get("/accounts/password/")
    assert other.status_code == 302
    assert other["Location"].startswith(settings.LOGIN_URL.replace("accounts:", "/accounts/"))
    assert elsewhere.get("/api/v1/me/").status_code in (401, 403)
    # The API token issued under the old password is dead.
    assert api.get("/api/v1/me/").status_code == 401
    # The session that made the change stays logged in.
    assert here.get("/api/v1/me/").json()["username"] == "lead"


def test_wrong_old_password_changes_nothing(lead, api_for):
    client = logged_in("lead")
    api = api_for(lead)
    response = client.post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200  # the form again
    lead.refresh_from_db()
    assert lead.check_password(PASSWORD)
    assert api.get("/api/v1/me/").status_code == 200


def test_session_id_rotates_at_login(lead):
    client = Client()
    session = client.session
    session["before-login"] = True
    session.save()
    before = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post("/accounts/login/", {"username": "lead", "password": PASSWORD})

    assert response.status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()


def test_logout_is_post_only_and_ends_the_session(lead):
    client = logged_in("lead")
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/api/v1/me/").status_code == 200  # a GET did not log out

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_logout_of_one_session_keeps_the_others(lead):
    first, second = logged_in("lead"), logged_in("lead")
    first.post("/accounts/logout/")
    assert second.get("/api/v1/me/").status_code == 200


def test_session_cookie_flags(lead):
    client = Client()
    response = client.post("/accounts/login/", {"username": "lead", "password": PASSWORD})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_AGE <= 24 * 3600  # idle timeout


def test_absolute_session_lifetime(lead, settings):
    client = logged_in("lead")
    assert client.get("/api/v1/me/").status_code == 200  # starts the clock
    settings.ACCORD_SESSION_ABSOLUTE_SECONDS = 60
    session = client.session
    session["accord_login_at"] -= 61
    session.save()
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert client.get("/accounts/password/").status_code == 302


def test_inactive_user_session_is_refused(lead):
    client = logged_in("lead")
    lead.is_active = False
    lead.save()
    assert client.get("/api/v1/me/").status_code in (401, 403)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_site(lead, target):
    response = Client().post(
        f"/accounts/login/?next={target}", {"username": "lead", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/")
    assert not response["Location"].startswith(("//", "/\\"))
