"""Guidelines: versioned publishing, the draft, the diff, and the sanitised
html field (SECURITY.md B4)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from projects.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS
from projects.models import GuidelineDraft, GuidelineVersion

from .conftest import fields_of

pytestmark = pytest.mark.django_db


def url(project, rest: str = "") -> str:
    return f"/api/v1/projects/{project.pk}/guidelines/{rest}"


def publish(api, project, body, note=""):
    return api.post(url(project), {"body": body, "note": note}, format="json")


def test_publishing_numbers_versions(api_for, project, lead, annotator):
    api = api_for(lead)
    first = publish(api, project, "# Rules\n\nOne.", "first")
    second = publish(api, project, "# Rules\n\nOne. Two.", "second")
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["number"], second.json()["number"]) == (1, 2)
    assert second.json()["note"] == "second"
    assert second.json()["author"] == "lead"
    listed = api_for(annotator).get(url(project))
    assert sorted(v["number"] for v in listed.json()["results"]) == [1, 2]
    detail = api_for(annotator).get(url(project, "1/"))
    assert detail.json()["body"] == "# Rules\n\nOne."
    assert "<h1>Rules</h1>" in detail.json()["html"]


def test_published_body_becomes_the_draft(api_for, project, lead):
    publish(api_for(lead), project, "# Rules")
    assert GuidelineDraft.objects.get(project=project).body == "# Rules"


@pytest.mark.parametrize("body", ["", "   \n\t"])
def test_empty_guidelines_are_400(api_for, project, lead, body):
    response = publish(api_for(lead), project, body)
    assert response.status_code == 400
    assert "body" in fields_of(response)
    assert not GuidelineVersion.objects.exists()


def test_publishing_an_empty_draft_is_400(api_for, project, lead):
    response = api_for(lead).post(url(project), {"note": "nothing"}, format="json")
    assert response.status_code == 400
    assert "body" in fields_of(response)


def test_unchanged_guidelines_are_409(api_for, project, lead):
    api = api_for(lead)
    publish(api, project, "# Same")
    response = publish(api, project, "# Same", "again")
    assert response.status_code == 409
    assert "version 1" in response.json()["detail"]
    assert GuidelineVersion.objects.filter(project=project).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": 5}, "body"),
        ({"body": ["# x"]}, "body"),
        ({"body": "# x", "note": "n" * 501}, "note"),
        ({"body": "# x", "note": None}, "note"),
        ({"body": "# x", "version": 7}, "version"),
    ],
)
def test_publish_input_is_validated(api_for, project, lead, body, field):
    response = api_for(lead).post(url(project), body, format="json")
    assert response.status_code == 400
    assert field in fields_of(response)
    assert not GuidelineVersion.objects.exists()


def test_draft_is_saved_and_published(api_for, project, lead):
    api = api_for(lead)
    saved = api.put(url(project, "draft/"), {"body": "# Draft\n\nWork in progress."}, format="json")
    assert saved.status_code == 200
    assert api.get(url(project, "draft/")).json()["body"] == "# Draft\n\nWork in progress."
    assert not GuidelineVersion.objects.exists()
    published = api.post(url(project), {"note": "from the draft"}, format="json")
    assert published.status_code == 201
    assert published.json()["body"] == "# Draft\n\nWork in progress."


def test_draft_put_validates_body(api_for, project, lead):
    response = api_for(lead).put(url(project, "draft/"), {"body": {"x": 1}}, format="json")
    assert response.status_code == 400
    assert "body" in fields_of(response)


def test_diff_between_versions(api_for, project, lead, annotator):
    api = api_for(lead)
    publish(api, project, "alpha\nbeta\ngamma")
    publish(api, project, "alpha\nBETA\ngamma")
    response = api_for(annotator).get(url(project, "diff/"), {"from": 1, "to": 2})
    assert response.status_code == 200
    lines = [(line["kind"], line["text"]) for line in response.json()]
    assert lines == [
        ("same", "alpha"),
        ("removed", "beta"),
        ("added", "BETA"),
        ("same", "gamma"),
    ]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"from": 1}, 400),
        ({"from": "one", "to": 2}, 400),
        ({"from": "-1", "to": 2}, 400),
        ({"from": "²", "to": 2}, 400),
        ({"from": "9" * 5000, "to": 2}, 400),
        ({"from": "9" * 30, "to": 2}, 400),
        ({"from": "9" * 12, "to": 2}, 404),
        ({"from": 1, "to": 7}, 404),
    ],
)
def test_diff_parameters_are_validated(api_for, project, lead, query, status):
    api = api_for(lead)
    publish(api, project, "a")
    publish(api, project, "b")
    response = api.get(url(project, "diff/"), query)
    assert response.status_code == status, response.content
    assert isinstance(response.json()["detail"], str)


def test_unknown_version_is_404(api_for, project, lead):
    assert api_for(lead).get(url(project, "3/")).status_code == 404
    assert api_for(lead).get(url(project, f"{'9' * 30}/")).status_code == 404


# --- the html field is sanitised (B4) ------------------------------------------------

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    '<a href="javascript:window.__pwned=1">click</a>',
    "[click](javascript:window.__pwned=1)",
    "[click](JaVaScRiPt:window.__pwned=1)",
    "[click](  javascript:window.__pwned=1)",
    "![img](javascript:window.__pwned=1)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<div hx-get="/api/v1/me/" hx-trigger="load">x</div>',
    '<button hx-on:click="window.__pwned=1">x</button>',
    "<svg onload=window.__pwned=1>",
    '<iframe src="javascript:window.__pwned=1"></iframe>',
    "<style>body{background:url(javascript:x)}</style>",
    '"><script>window.__pwned=1</script>',
    "{{ 7*7 }} {% debug %}",
    '<a href="https://example.org" onclick="window.__pwned=1">ok</a>',
    "<details open ontoggle=window.__pwned=1>",
]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_safe_html(html: str) -> None:
    """Only allowlisted tags and attributes, and only http(s)/mailto or relative URLs."""
    parser = _Collect()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, attrs)
        for name in ("href", "src"):
            # Browsers ignore whitespace and control characters inside a scheme.
            value = "".join(c for c in (attrs.get(name) or "") if c > " ").lower()
            head = value.split("/", 1)[0]
            scheme = head.split(":", 1)[0] if ":" in head else None
            assert scheme in (None, "http", "https", "mailto"), (tag, attrs)
    assert "<script" not in html.lower()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_field_is_sanitised(api_for, project, lead, payload):
    response = publish(api_for(lead), project, f"# Title\n\n{payload}\n\nText after.")
    assert response.status_code == 201
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["body"].endswith(f"{payload}\n\nText after.")  # stored byte-exact
    assert_safe_html(body["html"])
    assert "Text after." in body["html"]


def test_html_keeps_ordinary_markdown(api_for, project, lead):
    response = publish(
        api_for(lead),
        project,
        "# Title\n\n**bold** and [a link](https://example.org)\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    )
    html = response.json()["html"]
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html
    assert "<table>" in html
    assert_safe_html(html)
