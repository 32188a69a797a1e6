"""CSRF on every state change made with a session cookie (SECURITY.md D5):
every POST/PUT/PATCH/DELETE route in the matrix, API and pages alike."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from .route_matrix import MATRIX, WRITE_METHODS, collect_routes, project_rows, send, url_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(shared_world, db):
    # One world for the whole module; each test's writes roll back with it.
    return shared_world


ROUTES = collect_routes()

# Routes a cookie cannot authenticate, so a forged cross-site request carries
# no authority: each is listed with its reason.
NO_COOKIE_AUTH = {
    ("api:auth-token", "POST"): "exchanges a password for a token; the answer is not "
    "readable cross-site and no session is created",
    ("api:auth-token", "DELETE"): "revokes the token in the Authorization header, "
    "which a browser never adds on its own",
}

WRITES = [
    (name, method)
    for name, methods in sorted(MATRIX.items())
    if name in ROUTES
    for method in sorted(methods)
    if method in WRITE_METHODS and (name, method) not in NO_COOKIE_AUTH
]


def session_client(route, user, token: str | None):
    client = (APIClient if route.is_api else Client)(enforce_csrf_checks=True)
    client.force_login(user)
    if token:
        client.cookies["csrftoken"] = token
        if route.is_api:
            client.credentials(HTTP_X_CSRFTOKEN=token)
        else:
            client.defaults["HTTP_X_CSRFTOKEN"] = token
    return client


@pytest.mark.parametrize(("name", "method"), WRITES)
def test_write_without_csrf_token_is_403(name, method, world):
    route = ROUTES[name]
    case = MATRIX[name][method]
    url = url_for(route, world) + (f"?{case.query}" if case.query else "")
    before = project_rows(world.project.pk)

    client = session_client(route, world.users["lead"], None)
    refused = send(client, route, method, url, case.body_for(world, "lead"))

    assert refused.status_code == 403, refused.content[:300]
    if route.is_api:
        assert "CSRF" in refused.json()["detail"]
    assert project_rows(world.project.pk) == before

    # The same request with a token gets through: the 403 was about CSRF.
    token = get_random_string(32)
    client = session_client(route, world.users["lead"], token)
    allowed = send(client, route, method, url, case.body_for(world, "lead"))  # a fresh body
    assert allowed.status_code == case.expect["lead"], allowed.content[:300]


def test_a_wrong_csrf_token_is_refused(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users["lead"])
    client.cookies["csrftoken"] = get_random_string(32)
    client.credentials(HTTP_X_CSRFTOKEN=get_random_string(32))
    response = client.patch(
        f"/api/v1/projects/{world.project.pk}/", {"name": "forged"}, format="json"
    )
    assert response.status_code == 403
    world.project.refresh_from_db()
    assert world.project.name != "forged"


def test_token_auth_needs_no_csrf_token(world, api_for):
    # A header token is not sent by browsers on their own: no CSRF exposure.
    client = api_for(world.users["lead"])
    client.handler.enforce_csrf_checks = True
    response = client.patch(
        f"/api/v1/projects/{world.project.pk}/", {"name": "by token"}, format="json"
    )
    assert response.status_code == 200


def test_exemptions_name_existing_routes():
    for name, method in NO_COOKIE_AUTH:
        assert method in MATRIX[name] and name in ROUTES
