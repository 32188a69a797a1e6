"""Fixtures for the API behaviour tests."""

from __future__ import annotations

import hashlib

import pytest

from annotation.models import Annotation, Item


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # PBKDF2 at Django's default cost takes ~0.5 s per user; not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fields_of(response) -> dict[str, str]:
    """{field: reason} from an error body {"detail", "errors": [{field, reason}]}."""
    body = response.json()
    assert isinstance(body["detail"], str)
    return {e["field"]: e["reason"] for e in body.get("errors", [])}


@pytest.fixture
def annotate(db):
    """Make an item with one annotation per (annotator, value) through the ORM:
    the queue that would create them does not exist yet."""

    def make(project, *pairs, text: str = "some text") -> Item:
        item = Item.objects.create(
            project=project,
            data={"text": text},
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
        )
        for user, value in pairs:
            Annotation.objects.create(
                project=project,
                item=item,
                annotator=user,
                value=value,
                config_version=project.config_version,
            )
        return item

    return make
