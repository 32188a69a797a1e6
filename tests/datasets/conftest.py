"""Shared fixtures for the export tests: a second annotator and consensus
gold made through the queue's services."""

from __future__ import annotations

import pytest

from items.models import Item
from projects import services


@pytest.fixture
def second(make_user, project):
    person = make_user("second")
    services.membership_set(project=project, user=person, roles=["annotator"])
    return person


@pytest.fixture
def gold(annotate, annotator, second):
    """Consensus gold: both annotators give ``value``."""

    def make(project, text: str, value, meta: dict | None = None):
        item = annotate(project, (annotator, value), (second, value), text=text)
        if meta is not None:
            Item.objects.filter(pk=item.pk).update(meta=meta)
        return item

    return make
