"""XSS payloads in every field the API shows come back as JSON, never as
HTML; the guideline html field is sanitised (SECURITY.md B1, B4, B5)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from projects import services
from projects.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror=window.__pwned=1>',
    "<svg/onload=window.__pwned=1>",
    "javascript:window.__pwned=1",
    "{{ 7*7 }}{% load static %}",
    '<a hx-get="/api/v1/me/" hx-trigger="load" hx-on:click="window.__pwned=1">x</a>',
    "</script><script>window.__pwned=1</script>",
    "\u2028\u2029<!--",
]


class _Sanitised(HTMLParser):
    def handle_starttag(self, tag, attrs):
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            # No event handlers, no hx-* attributes: only the allowlist (B4).
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
            if name in ("href", "src"):
                scheme = "".join(c for c in value or "" if c > " ").lower()
                assert not scheme.startswith(("javascript:", "data:", "vbscript:")), value


def assert_sanitised(html: str) -> None:
    _Sanitised().feed(html)
    assert "<script" not in html.lower()


def assert_json(response):
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    return json.loads(response.content)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_every_shown_field_come_back_as_json(api_for, lead, annotator, payload):
    api = api_for(lead)
    config = {
        "labels": [
            {"key": "a", "name": f"A {payload}"[:100], "description": payload},
            {"key": "b", "name": "B"},
        ]
    }
    created = api.post(
        "/api/v1/projects/",
        {"name": payload, "description": payload, "task_type": "classification", "config": config},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = assert_json(created)
    pk = body["id"]
    # Stored and returned byte-exact: escaping is the renderer's job, not the store's.
    assert body["name"] == payload.strip()
    assert body["config"]["labels"][0]["description"] == payload

    api.post(
        f"/api/v1/projects/{pk}/members/",
        {"user": annotator.pk, "roles": ["annotator"]},
        format="json",
    )
    published = api.post(
        f"/api/v1/projects/{pk}/guidelines/", {"body": payload, "note": payload}, format="json"
    )
    assert published.status_code == 201
    version = assert_json(published)
    assert version["note"] == payload.strip() or version["note"] == payload
    assert_sanitised(version["html"])

    for url in (
        f"/api/v1/projects/{pk}/",
        "/api/v1/projects/",
        f"/api/v1/projects/{pk}/config/",
        f"/api/v1/projects/{pk}/members/",
        f"/api/v1/projects/{pk}/guidelines/",
        f"/api/v1/projects/{pk}/guidelines/1/",
        f"/api/v1/projects/{pk}/guidelines/draft/",
        f"/api/v1/projects/{pk}/stats/",
    ):
        response = api.get(url)
        assert response.status_code == 200, url
        assert_json(response)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_in_username_comes_back_as_json(api_for, project, lead, make_user, payload):
    user = make_user("x" + str(abs(hash(payload)))[:10])
    user.username = payload[:150]
    user.save()
    services.membership_set(project=project, user=user, roles=["annotator"])
    response = api_for(lead).get(f"/api/v1/projects/{project.pk}/members/")
    body = assert_json(response)
    assert payload[:150] in {m["username"] for m in body["results"]}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_in_bad_input_is_reflected_only_as_json(api_for, lead, payload):
    response = api_for(lead).post(
        "/api/v1/projects/",
        {"name": "x", "task_type": payload, "config": {"labels": [{"key": payload}]}},
        format="json",
    )
    assert response.status_code == 400
    assert_json(response)


def test_guideline_html_sanitises_every_payload(api_for, project, lead):
    body = "\n\n".join(PAYLOADS + [f"[x]({p})" for p in PAYLOADS])
    response = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/guidelines/", {"body": body, "note": ""}, format="json"
    )
    assert_sanitised(assert_json(response)["html"])
