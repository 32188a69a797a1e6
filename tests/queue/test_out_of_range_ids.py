"""Ids past the database's integer range in queue URLs answer 404, never a
500 (the queue's hot path reads with SQL of its own, bypassing the ORM's
range check)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

HUGE = 10**20
GETS = [
    "/api/v1/assignments/{h}/",
    "/api/v1/annotations/{h}/",
    "/api/v1/assignments/{h}/revisions/",
]
POSTS = [
    ("/api/v1/assignments/{h}/submit/", {"value": "pos"}),
    ("/api/v1/assignments/{h}/skip/", {"reason": "x"}),
    ("/api/v1/assignments/{h}/draft/", {"value": "pos"}),
    ("/api/v1/annotations/{h}/undo/", None),
    ("/api/v1/projects/{h}/claim/", None),
    ("/api/v1/projects/{p}/leases/{h}/release/", None),
    ("/api/v1/projects/{p}/items/{h}/override/", {"action": "exclude"}),
    ("/projects/{p}/annotate/{h}/submit/", {"value": "pos"}),
]


@pytest.mark.parametrize("role", ["lead", "annotator"])
def test_huge_ids_are_not_found(request, api_for, web_for, project, role):
    user = request.getfixturevalue(role)
    api, web = api_for(user), web_for(user)
    for path in GETS:
        assert api.get(path.format(h=HUGE)).status_code == 404, path
    for path, body in POSTS:
        url = path.format(h=HUGE, p=project.pk)
        client = web if url.startswith("/projects/") else api
        if client is web:
            response = client.post(url, body or {})
        else:
            response = client.post(url, body, format="json")
        # A member without the lead's permission learns only that (403).
        lead_only = "/leases/" in url or "/override/" in url
        expected = 403 if lead_only and role == "annotator" else 404
        assert response.status_code == expected, (url, response.status_code)
