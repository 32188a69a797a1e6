"""Every route × method × role, generated from the URL conf (SECURITY.md A1,
A4, A7, A9, A10; B5 for the error shape).

A route without an entry in route_matrix.MATRIX fails
``test_every_route_is_in_the_matrix``; the table itself lives in
route_matrix.py.
"""

from __future__ import annotations

import pytest

from .route_matrix import (
    IGNORED_ROUTES,
    KWARGS,
    MATRIX,
    OBJECT,
    PROBE_METHODS,
    ROLES,
    TENANT,
    collect_routes,
    project_rows,
    send,
    url_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(shared_world, db):
    # One world for the whole module; each test's writes roll back with it.
    return shared_world


ROUTES = collect_routes()
CASES = [
    (name, method, role)
    for name, methods in sorted(MATRIX.items())
    for method in sorted(methods)
    for role in ROLES
]


_HANDLERS: dict[type, object] = {}


def _client(route, role, world, api_for, web_for):
    user = world.user(role)
    client = api_for(user) if route.is_api else web_for(user)
    # One request handler per client class: a new one loads every middleware
    # again (whitenoise scans the static folders), ~450 times over.
    client.handler = _HANDLERS.setdefault(type(client), client.handler)
    return client


def _route(name: str):
    if name not in ROUTES:
        pytest.fail(f"MATRIX names {name!r}, which the URL conf no longer has")
    return ROUTES[name]


def test_every_route_is_in_the_matrix():
    missing = sorted(set(ROUTES) - set(MATRIX))
    assert not missing, (
        f"routes without an entry in tests/security/route_matrix.py MATRIX: {missing}"
    )


def test_matrix_names_only_existing_routes():
    stale = sorted(set(MATRIX) - set(ROUTES))
    assert not stale, f"MATRIX entries for routes that do not exist: {stale}"


def test_ignored_routes_exist():
    # An ignore entry must not outlive its route and silently hide a new one.
    from django.urls import reverse

    for name in IGNORED_ROUTES:
        reverse(name)


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.methods is not None))
def test_matrix_lists_the_methods_the_view_answers(name):
    assert set(MATRIX.get(name, {})) == set(ROUTES[name].methods), name


@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_role_gets_expected_status(name, method, role, world, api_for, web_for):
    route = _route(name)
    case = MATRIX[name][method]
    url = url_for(route, world) + (f"?{case.query_for(world)}" if case.query else "")
    client = _client(route, role, world, api_for, web_for)
    before = project_rows(world.project.pk)

    response = send(client, route, method, url, case.body_for(world, role))

    expected = case.expect[role]
    assert response.status_code == expected, (
        f"{method} {url} as {role}: {response.status_code}, expected {expected}: "
        f"{response.content[:300]!r}"
    )
    if method == "GET" or response.status_code >= 400:
        # A read or a refused request leaves the project byte-identical (A1, A4).
        assert project_rows(world.project.pk) == before
    if route.is_api and response.status_code >= 400:
        # B5: an API error is JSON with a reason, never an HTML page.
        assert response["Content-Type"].startswith("application/json")
        assert isinstance(response.json()["detail"], str)


OUTSIDER_CASES = [
    (name, method)
    for name, methods in sorted(MATRIX.items())
    if name in ROUTES and ROUTES[name].in_project
    for method in sorted(methods)
]


@pytest.mark.parametrize(("name", "method"), OUTSIDER_CASES)
def test_other_projects_user_cannot_tell_project_exists(name, method, world, api_for, web_for):
    """A1: another project's lead gets the answer a missing project gets."""
    route = ROUTES[name]
    case = MATRIX[name][method]
    client = _client(route, "outsider", world, api_for, web_for)
    body = case.body_for(world, "outsider")
    query = f"?{case.query_for(world)}" if case.query else ""

    swap = {k: 10**9 for k in route.kwargs if KWARGS[k].kind == TENANT}
    real = send(client, route, method, url_for(route, world) + query, body)
    missing = send(client, route, method, url_for(route, world, **swap) + query, body)

    assert real.status_code == missing.status_code == 404
    if route.is_api:
        assert real.json() == missing.json()


FOREIGN_CASES = [
    (name, method)
    for name, methods in sorted(MATRIX.items())
    if name in ROUTES
    and "project_id" in ROUTES[name].kwargs
    and any(
        k != "project_id" and k in KWARGS and KWARGS[k].kind in (OBJECT, TENANT)
        for k in ROUTES[name].kwargs
    )
    for method in sorted(methods)
]


@pytest.mark.parametrize(("name", "method"), FOREIGN_CASES)
def test_foreign_ids_under_own_project_get_404(name, method, world, api_for, web_for):
    """A1/A4: a lead of project B sends project A's object ids under B's own id."""
    route = ROUTES[name]
    case = MATRIX[name][method]
    client = _client(route, "outsider", world, api_for, web_for)
    url = url_for(route, world, project_id=world.other_project.pk)
    before = (project_rows(world.project.pk), project_rows(world.other_project.pk))

    response = send(client, route, method, url, case.body_for(world, "outsider"))

    assert response.status_code == 404, response.content[:300]
    assert (project_rows(world.project.pk), project_rows(world.other_project.pk)) == before


def _probe_role(name: str) -> str:
    """A role that may use the route, so a 405 is about the method, not access."""
    for role in ROLES:
        if any(200 <= case.expect[role] < 300 for case in MATRIX[name].values()):
            return role
    return "lead"


@pytest.mark.parametrize("name", sorted(n for n in MATRIX if n in ROUTES))
def test_undeclared_methods_get_405(name, world, api_for, web_for):
    """ASVS 13.2.1: a route answers only the methods in its matrix entry."""
    route = ROUTES[name]
    role = _probe_role(name)
    url = url_for(route, world)
    before = project_rows(world.project.pk)
    for method in PROBE_METHODS:
        if method in MATRIX[name]:
            continue
        client = _client(route, role, world, api_for, web_for)
        response = send(client, route, method, url, {})
        assert response.status_code == 405, f"{method} {url} as {role}: {response.status_code}"
    assert project_rows(world.project.pk) == before
