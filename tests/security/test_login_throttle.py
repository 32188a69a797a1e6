"""Brute-force protection that holds under concurrency (SECURITY.md D6): the
counter is taken atomically before the password is checked, so 100 parallel
attempts evaluate at most the configured number of passwords."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
PARALLEL = 100


@pytest.fixture(autouse=True)
def _fresh_ip_count():
    """Every test client comes from 127.0.0.1: sign-ins of earlier tests in
    the window (browser tests log in too) count against the per-IP limit."""
    from django.core.cache import cache

    from accounts.throttle import _key

    for ip in ("127.0.0.1", ""):
        cache.delete(_key("ip", ip or "unknown"))


def _parallel(attempt, n: int = PARALLEL) -> list:
    barrier = threading.Barrier(n, timeout=60)

    def run(i):
        try:
            barrier.wait()
            return attempt(i)
        finally:
            connections.close_all()  # each thread has its own database connection

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_evaluate_at_most_the_limit(settings):
    get_user_model().objects.create_user(username="victim", password=PASSWORD)
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
    assert limit < PARALLEL
    # The per-user limit alone decides here. Under the per-IP limit (50), an
    # attempt among the user's first ten could still be refused: its thread
    # may count the IP after fifty others did (seen on a loaded machine).
    settings.ACCORD_LOGIN_ATTEMPTS_PER_IP = PARALLEL

    def attempt(i):
        response = APIClient().post(
            TOKEN_URL, {"username": "victim", "password": f"guess {i}"}, format="json"
        )
        return response.status_code, response.get("Retry-After")

    results = _parallel(attempt)

    statuses = [status for status, _ in results]
    assert set(statuses) <= {400, 429}
    assert statuses.count(400) == limit  # evaluated: exactly the limit, never more
    assert statuses.count(429) == PARALLEL - limit
    assert all(int(retry) > 0 for status, retry in results if status == 429)


@pytest.mark.django_db(transaction=True)
def test_parallel_right_passwords_past_the_limit_get_no_token():
    # Even the right password is not checked once the limit is spent.
    user = get_user_model().objects.create_user(username="victim", password=PASSWORD)
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
    for i in range(limit):
        APIClient().post(TOKEN_URL, {"username": "victim", "password": f"x{i}"}, format="json")

    def attempt(i):
        response = APIClient().post(
            TOKEN_URL, {"username": "victim", "password": PASSWORD}, format="json"
        )
        return response.status_code

    assert set(_parallel(attempt, 20)) == {429}
    assert not user.api_tokens.exists()


@pytest.mark.django_db
def test_unknown_user_is_throttled_like_a_known_one(make_user):
    make_user("known")
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER

    def statuses(username):
        return [
            APIClient()
            .post(TOKEN_URL, {"username": username, "password": "wrong"}, format="json")
            .status_code
            for _ in range(limit + 1)
        ]

    assert statuses("known") == statuses("unknown") == [400] * limit + [429]


@pytest.mark.django_db
def test_username_case_does_not_reset_the_counter(make_user):
    make_user("victim")
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
    for i in range(limit):
        APIClient().post(TOKEN_URL, {"username": "victim", "password": f"{i}"}, format="json")
    response = APIClient().post(
        TOKEN_URL, {"username": " VICTIM ", "password": "again"}, format="json"
    )
    assert response.status_code == 429


@pytest.mark.django_db
def test_per_ip_limit_stops_spraying_many_users(make_user, settings):
    settings.ACCORD_LOGIN_ATTEMPTS_PER_IP = 5
    codes = [
        APIClient()
        .post(TOKEN_URL, {"username": f"user{i}", "password": "wrong"}, format="json")
        .status_code
        for i in range(7)
    ]
    assert codes == [400] * 5 + [429] * 2


@pytest.mark.django_db
def test_html_login_answers_429_over_the_limit(make_user):
    make_user("victim")
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
    client = Client()
    for i in range(limit):
        response = client.post("/accounts/login/", {"username": "victim", "password": f"{i}"})
        assert response.status_code == 200  # the form again, with an error
    response = client.post("/accounts/login/", {"username": "victim", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_html_and_api_share_one_counter(make_user):
    make_user("victim")
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
    for i in range(limit):
        Client().post("/accounts/login/", {"username": "victim", "password": f"{i}"})
    response = APIClient().post(
        TOKEN_URL, {"username": "victim", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429


@pytest.mark.django_db
def test_successful_login_resets_the_user_counter(make_user):
    make_user("victim")
    limit = settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
    for i in range(limit - 1):
        APIClient().post(TOKEN_URL, {"username": "victim", "password": f"{i}"}, format="json")
    ok = APIClient().post(TOKEN_URL, {"username": "victim", "password": PASSWORD}, format="json")
    assert ok.status_code == 201
    again = APIClient().post(TOKEN_URL, {"username": "victim", "password": "x"}, format="json")
    assert again.status_code == 400
