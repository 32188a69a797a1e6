from __future__ import annotations

import pytest

from items.services import ItemRow, items_create
from projects import services
from projects.services import project_config


@pytest.fixture
def add_items():
    """Import ``n`` items (texts "item 0" …) into ``project`` through the service."""

    def add(project, n: int, prefix: str = "item") -> None:
        rows = [ItemRow({"text": f"{prefix} {i}"}) for i in range(n)]
        items_create(project=project, rows=rows, config=project_config(project).config)

    return add


@pytest.fixture
def annotators(make_user, project):
    """Five more annotators in ``project``."""
    people = [make_user(f"ann{i}") for i in range(5)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return people
