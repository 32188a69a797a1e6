"""Shared fixtures: a project with the trio every endpoint is tested against
(lead, annotator, outsider), plus a reviewer, all made through the services."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.tokens import token_issue
from projects import services

User = get_user_model()
PASSWORD = "correct horse battery staple 42"  # noqa: S105 - test password

CLASSIFICATION_CONFIG = {
    "multi_label": False,
    "labels": [
        {"key": "pos", "name": "Positive", "hotkey": "p", "color": "#2e7d32"},
        {"key": "neg", "name": "Negative", "hotkey": "n", "color": "#c62828"},
        {"key": "neu", "name": "Neutral", "hotkey": "u"},
    ],
}

_seq = itertools.count(1)


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **extra) -> User:
        name = username or f"user{next(_seq)}"
        return User.objects.create_user(
            username=name, password=PASSWORD, email=f"{name}@example.org", **extra
        )

    return make


@pytest.fixture
def lead(make_user):
    return make_user("lead")


@pytest.fixture
def annotator(make_user):
    return make_user("annotator")


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer")


@pytest.fixture
def outsider(make_user):
    return make_user("outsider")


@pytest.fixture
def make_project(db):
    def make(lead, name: str = "Sentiment", config: dict | None = None, **settings) -> object:
        return services.project_create(
            user=lead,
            name=name,
            task_type="classification",
            config=config or CLASSIFICATION_CONFIG,
            **settings,
        )

    return make


@pytest.fixture
def project(make_project, lead, annotator, reviewer, outsider):
    project = make_project(lead)
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    return project


@pytest.fixture
def api_for():
    """An API client authenticated with a real token for ``user`` (or anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            key, _ = token_issue(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def web_for(client):
    """A Django test client logged in as ``user`` (a fresh client per call)."""
    from django.test import Client

    def make(user=None) -> Client:
        c = Client()
        if user is not None:
            c.force_login(user)
        return c

    return make


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache (Redis): start every test clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
