"""Guidelines: a draft the lead edits, immutable numbered versions, a diff,
and Markdown that can never run script."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from accord.errors import Conflict, InvalidInput
from projects import selectors, services
from projects.markdown import render_markdown
from projects.models import GuidelineDraft, GuidelineVersion

pytestmark = pytest.mark.django_db


def test_publish_numbers_versions_and_keeps_authorship(project, lead):
    services.guideline_draft_save(project=project, user=lead, body="# Rules\n\nBe kind.")
    v1 = services.guideline_publish(project=project, user=lead, note="first")
    v2 = services.guideline_publish(
        project=project, user=lead, body="# Rules\n\nBe kinder.", note="tone"
    )
    assert (v1.number, v1.note, v1.author, v2.number) == (1, "first", lead, 2)
    assert GuidelineDraft.objects.get(project=project).body == "# Rules\n\nBe kinder."
    assert list(selectors.guideline_versions(project).values_list("number", flat=True)) == [2, 1]


def test_empty_and_unchanged_publishes_are_refused(project, lead):
    with pytest.raises(InvalidInput):
        services.guideline_publish(project=project, user=lead, body="   ")
    services.guideline_publish(project=project, user=lead, body="text")
    with pytest.raises(Conflict):
        services.guideline_publish(project=project, user=lead)
    assert GuidelineVersion.objects.filter(project=project).count() == 1


def test_diff_marks_added_and_removed_lines():
    lines = selectors.guideline_diff("a\nb\nc", "a\nB\nc\nd")
    assert [(x.kind, x.text) for x in lines] == [
        ("same", "a"),
        ("removed", "b"),
        ("added", "B"),
        ("same", "c"),
        ("added", "d"),
    ]


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>window.__pwned=1</script>",
        '<div hx-get="/api/v1/projects/" hx-trigger="load">x</div>',
        "[click](javascript:alert(1))",
        '<img src="x" onerror="alert(1)">',
        '![x](x" onerror="alert(1))',
    ],
)
def test_markdown_never_renders_active_content(markdown):
    # Escaped text such as "&lt;div hx-get=…&gt;" is inert; what matters is
    # which elements and attributes the browser would build.
    parser = ElementCollector()
    parser.feed(str(render_markdown(markdown)))
    for tag, attrs in parser.elements:
        assert tag not in {"script", "div", "iframe", "object"}
        for name, value in attrs:
            assert not name.startswith(("on", "hx-", "data-hx"))
            assert not (value or "").strip().lower().startswith("javascript:")


class ElementCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))


def test_markdown_keeps_ordinary_formatting():
    html = str(
        render_markdown(
            "# Title\n\n**bold** and [link](https://example.org)\n\n| a | b |\n|---|---|\n| 1 | 2 |"
        )
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html and "noopener" in html
    assert "<table>" in html
