"""Ids in request bodies are scoped like ids in paths (SECURITY.md A1, A4): a
lead of project B who sends project A's item ids gets the answer a missing id
gets, and A's rows stay byte-identical."""

from __future__ import annotations

import pytest

from .route_matrix import project_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(shared_world, db):
    # One world for the whole module; each test's writes roll back with it.
    return shared_world


BULK = ["items/delete/", "items/archive/", "items/priority/"]


def body(path: str, ids: list[int]) -> dict:
    return {"priority": 0.9, "ids": ids} if path.endswith("priority/") else {"ids": ids}


@pytest.mark.parametrize("path", BULK)
def test_another_projects_item_ids_are_unknown_here(api_for, world, path):
    api = api_for(world.users["outsider"])  # the lead of world.other_project
    url = f"/api/v1/projects/{world.other_project.pk}/{path}"
    before = project_rows(world.project.pk)

    foreign = api.post(url, body(path, [world.extra["item"].pk]), format="json")
    missing = api.post(url, body(path, [10**9]), format="json")

    assert foreign.status_code == missing.status_code
    if foreign.status_code >= 400:
        assert foreign.json()["detail"].replace(str(world.extra["item"].pk), "N") == (
            missing.json()["detail"].replace(str(10**9), "N")
        )
    assert project_rows(world.project.pk) == before


def test_member_list_post_cannot_touch_another_projects_membership(api_for, world):
    # Adding A's annotator to B changes B only.
    api = api_for(world.users["outsider"])
    before = project_rows(world.project.pk)
    response = api.post(
        f"/api/v1/projects/{world.other_project.pk}/members/",
        {"user": world.users["annotator"].pk, "roles": ["annotator"]},
        format="json",
    )
    assert response.status_code == 201
    assert project_rows(world.project.pk) == before
