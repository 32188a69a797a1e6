"""The OpenAPI schema renders and is valid; every API error is JSON with a
"detail" (SECURITY.md B5)."""

from __future__ import annotations

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.security.route_matrix import collect_routes

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document


def test_schema_documents_every_api_route(schema):
    import re

    documented = set(schema["paths"])
    for route in collect_routes().values():
        if not route.is_api:
            continue
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.pattern)
        assert path in documented, path


def test_schema_declares_token_auth(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


def test_docs_page_renders(client):
    assert client.get("/api/docs/").status_code == 200


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_validation_error_names_field_and_reason(api_for, lead):
    response = api_for(lead).post("/api/v1/projects/", {"name": "x"}, format="json")
    body = assert_json_error(response, 400)
    assert {"field", "reason"} <= set(body["errors"][0])


def test_malformed_json_is_400(api_for, lead):
    response = api_for(lead).generic(
        "POST", "/api/v1/projects/", '{"name": "<script>', content_type="application/json"
    )
    assert_json_error(response, 400)


def test_unsupported_media_type_is_415(api_for, lead):
    response = api_for(lead).generic(
        "POST", "/api/v1/projects/", "<script>x</script>", content_type="text/html"
    )
    body = assert_json_error(response, 415)
    assert "<script>" not in body["detail"] or "text/html" in body["detail"]


def test_unauthenticated_is_401(db):
    assert_json_error(APIClient().get("/api/v1/projects/"), 401)


def test_forbidden_is_403(api_for, project, annotator):
    assert_json_error(
        api_for(annotator).patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json"),
        403,
    )


def test_not_found_is_404(api_for, lead):
    assert_json_error(api_for(lead).get("/api/v1/projects/999999/"), 404)


def test_method_not_allowed_is_405(api_for, lead):
    assert_json_error(api_for(lead).delete("/api/v1/projects/"), 405)


def test_conflict_is_409(api_for, project, lead):
    assert_json_error(
        api_for(lead).delete(f"/api/v1/projects/{project.pk}/members/{lead.pk}/"), 409
    )


def test_throttled_is_429_with_retry_after(lead, settings):
    settings.ACCORD_LOGIN_ATTEMPTS_PER_USER = 1
    client = APIClient()
    client.post("/api/v1/auth/token/", {"username": "lead", "password": "x"}, format="json")
    response = client.post(
        "/api/v1/auth/token/", {"username": "lead", "password": "x"}, format="json"
    )
    assert_json_error(response, 429)
    assert int(response["Retry-After"]) > 0


def test_reflected_input_stays_json(api_for, lead):
    # B5: a payload echoed in an error message arrives as JSON text, not HTML.
    payload = "<img src=x onerror=alert(1)>"
    response = api_for(lead).post(
        "/api/v1/projects/",
        {"name": "x", "task_type": payload, "config": {}, payload: 1},
        format="json",
    )
    assert_json_error(response, 400)
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing/", "/api/v1/projects/abc/", "/api/v1/projects/1/nope/"]
)
def test_unknown_api_path_is_json_404(api_for, lead, path):
    assert_json_error(api_for(lead).get(path), 404)
