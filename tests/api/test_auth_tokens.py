"""API tokens: issued for a password, hashed at rest, expiring, revocable, and
dead after a password change (SECURITY.md D4, D6, D7)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def get_token(username: str, password: str = PASSWORD, **extra):
    return APIClient().post(
        TOKEN_URL, {"username": username, "password": password, **extra}, format="json"
    )


def me(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/")


def test_password_gives_a_working_token(lead):
    response = get_token("lead", name="laptop")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "prefix", "expires_at"}
    assert body["token"].startswith(body["prefix"])
    assert me(body["token"]).json() == {"id": lead.pk, "username": "lead"}
    assert ApiToken.objects.get(user=lead).name == "laptop"


def test_only_a_digest_is_stored(lead):
    key = get_token("lead").json()["token"]
    token = ApiToken.objects.get(user=lead)
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    stored = " ".join(str(v) for v in ApiToken.objects.filter(pk=token.pk).values().get().values())
    assert key not in stored


def test_wrong_password_and_unknown_user_look_the_same(lead, make_user):
    make_user("sleeper", is_active=False)
    wrong = get_token("lead", "not the password")
    unknown = get_token("nobody-by-that-name", "not the password")
    inactive = get_token("sleeper")
    assert wrong.status_code == unknown.status_code == inactive.status_code == 400
    assert wrong.content == unknown.content == inactive.content
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"username": "lead"}, "password"), ({"password": "x"}, "username")],
)
def test_missing_fields_are_400(lead, body, field):
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}


def test_expired_token_is_401(lead):
    key = get_token("lead").json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = me(key)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert isinstance(response.json()["detail"], str)


def test_token_expires_after_the_configured_lifetime(lead, settings):
    settings.ACCORD_TOKEN_TTL_SECONDS = 3600
    before = timezone.now()
    get_token("lead")
    expires = ApiToken.objects.get(user=lead).expires_at
    assert timedelta(seconds=3590) < expires - before <= timedelta(seconds=3601)


def test_revoked_token_is_401(lead):
    key = get_token("lead").json()["token"]
    other = get_token("lead").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.delete(TOKEN_URL).status_code == 204
    assert me(key).status_code == 401
    assert me(other).status_code == 200  # only the token that asked is revoked


def test_revoking_needs_the_token(lead):
    missing = APIClient().delete(TOKEN_URL)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    wrong = client.delete(TOKEN_URL)
    assert missing.status_code == wrong.status_code == 401
    assert missing["WWW-Authenticate"] == wrong["WWW-Authenticate"] == "Token"


def test_password_change_kills_old_tokens(lead):
    old = get_token("lead").json()["token"]
    lead.set_password("a completely different one 55")
    lead.save()
    assert me(old).status_code == 401
    fresh = get_token("lead", "a completely different one 55").json()["token"]
    assert me(fresh).status_code == 200


def test_deactivated_user_token_is_401(lead):
    key = get_token("lead").json()["token"]
    lead.is_active = False
    lead.save()
    assert me(key).status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token " + "x" * 500, "Token \u00e9t\u00e9", "Bearer abc"],
)
def test_malformed_headers_never_authenticate(lead, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))
    assert client.get("/api/v1/me/").status_code == 401
