"""No self-signup: accounts come from an admin or a lead's invite (SECURITY.md D3)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

SIGNUP_PATHS = [
    "/accounts/signup/",
    "/accounts/register/",
    "/signup/",
    "/register/",
    "/api/v1/auth/register/",
    "/api/v1/users/",
]


@pytest.mark.parametrize("path", SIGNUP_PATHS)
def test_there_is_no_signup_route(client, path):
    assert client.get(path).status_code == 404
    response = client.post(path, {"username": "mallory", "password1": "x" * 20})
    assert response.status_code in (404, 405)
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_no_route_is_named_like_signup():
    from .route_matrix import collect_routes

    for name, route in collect_routes().items():
        for word in ("signup", "sign-up", "register", "join"):
            assert word not in name.lower() and word not in route.pattern.lower(), name
