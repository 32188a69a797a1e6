"""Fixtures for the API behaviour tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # PBKDF2 at Django's default cost takes ~0.5 s per user; not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fields_of(response) -> dict[str, str]:
    """{field: reason} from an error body {"detail", "errors": [{field, reason}]}."""
    body = response.json()
    assert isinstance(body["detail"], str)
    return {e["field"]: e["reason"] for e in body.get("errors", [])}
