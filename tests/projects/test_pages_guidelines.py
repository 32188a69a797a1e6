"""The guidelines tab: the latest version for everyone, versions, a single
version, diffs; the draft editor, preview and publishing for leads."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from projects import serializers, services
from projects.models import GuidelineDraft, GuidelineVersion

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]

V1 = "# Rules\n\nChoose one label.\n\n- Positive: praise\n"
V2 = "# Rules\n\nChoose one label per review.\n\n- Positive: praise\n- Neutral: neither\n"


@pytest.fixture
def two_versions(project, lead):
    services.guideline_publish(project=project, user=lead, body=V1, note="first")
    services.guideline_publish(project=project, user=lead, body=V2, note="neutral added")
    return project


def article(response) -> str:
    """The rendered guideline body (not the page around it)."""
    return re.search(
        r'<article class="prose card"[^>]*>(.*?)</article>', response.content.decode(), re.S
    )[1]


def test_nothing_published_yet(web_for, pages, project, annotator, lead):
    assert "No guidelines have been published yet." in pages.text(
        web_for(annotator).get(f"/projects/{project.pk}/guidelines/")
    )
    lead_page = pages.text(web_for(lead).get(f"/projects/{project.pk}/guidelines/"))
    assert "Write them in the draft editor" in lead_page


def test_everyone_sees_the_latest_version_and_the_list(web_for, pages, two_versions, annotator):
    response = web_for(annotator).get(f"/projects/{two_versions.pk}/guidelines/")
    assert response.status_code == 200
    assert "<li>Neutral: neither</li>" in article(response)
    body = pages.text(response)
    assert "version 2" in body and "“neutral added”" in body
    assert ">Version 1</a>" in body and ">Version 2</a>" in body
    assert ">first<" in body
    assert "Edit draft" not in body  # annotators do not edit


def test_a_single_version_is_readable(web_for, pages, two_versions, reviewer):
    response = web_for(reviewer).get(f"/projects/{two_versions.pk}/guidelines/1/")
    assert response.status_code == 200
    assert "<p>Choose one label.</p>" in article(response)
    assert "Neutral" not in article(response)


def test_diff_marks_lines_with_plus_and_minus_not_only_colour(
    web_for, pages, two_versions, annotator
):
    response = web_for(annotator).get(f"/projects/{two_versions.pk}/guidelines/diff/?from=1&to=2")
    assert response.status_code == 200
    body = pages.text(response)
    assert "2 lines added" in body and "1 line removed" in body
    removed = re.search(r'<tr class="diff-line diff-line--removed">(.*?)</tr>', body, re.S)[1]
    assert (
        '<span aria-hidden="true">−</span><span class="visually-hidden">Removed</span>' in removed
    )
    assert "<code>Choose one label.</code>" in removed
    added = re.findall(r'<tr class="diff-line diff-line--added">(.*?)</tr>', body, re.S)
    assert any("<code>- Neutral: neither</code>" in row for row in added)
    assert all(
        '<span aria-hidden="true">+</span><span class="visually-hidden">Added</span>' in row
        for row in added
    )


def test_diff_defaults_to_the_last_two_versions(web_for, pages, two_versions, annotator):
    body = pages.text(web_for(annotator).get(f"/projects/{two_versions.pk}/guidelines/diff/"))
    assert "version 1 → 2" in body


@pytest.mark.parametrize("query", ["?from=x&to=2", "?from=1", "?from=²&to=1"])
def test_a_bad_diff_request_is_a_400(web_for, pages, two_versions, annotator, query):
    response = web_for(annotator).get(f"/projects/{two_versions.pk}/guidelines/diff/{query}")
    assert response.status_code == 400
    assert "Choose two published versions to compare." in pages.messages(response)


def test_a_diff_with_a_missing_version_is_404(web_for, two_versions, annotator):
    assert (
        web_for(annotator)
        .get(f"/projects/{two_versions.pk}/guidelines/diff/?from=1&to=9")
        .status_code
        == 404
    )


# --- editing --------------------------------------------------------------------


def test_the_editor_shows_the_draft(web_for, pages, project, lead):
    services.guideline_draft_save(project=project, user=lead, body="# Draft\n")
    response = web_for(lead).get(f"/projects/{project.pk}/guidelines/edit/")
    assert response.status_code == 200
    body = pages.text(response)
    assert "# Draft" in body
    assert "Unpublished changes" in body


def test_save_draft(web_for, pages, project, lead):
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/guidelines/draft/", {"body": "# New\n\ntext  \n"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/guidelines/edit/"
    assert GuidelineDraft.objects.get(project=project).body == "# New\n\ntext  \n"  # byte-exact
    assert "Draft saved." in pages.messages(client.get(response["Location"]))
    assert not GuidelineVersion.objects.exists()


def test_a_too_long_draft_is_a_400_and_kept_in_the_form(web_for, pages, project, lead):
    body = "x" * (serializers.MAX_GUIDELINE + 1)
    response = web_for(lead).post(f"/projects/{project.pk}/guidelines/draft/", {"body": body})
    assert response.status_code == 400
    assert "is longer than" in pages.field_errors(response, "id_body")
    assert GuidelineDraft.objects.get(project=project).body == ""


def test_preview_is_an_htmx_partial_and_stores_nothing(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/guidelines/preview/",
        {"body": "# Title\n\n**bold**"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = pages.text(response)
    assert "<h1>Title</h1>" in body and "<strong>bold</strong>" in body
    assert "<html" not in body and "<nav" not in body
    assert GuidelineDraft.objects.get(project=project).body == ""


def test_preview_without_javascript_renders_the_editor_with_the_preview(
    web_for, pages, project, lead
):
    response = web_for(lead).post(
        f"/projects/{project.pk}/guidelines/preview/", {"body": "*typed*"}
    )
    assert response.status_code == 200
    body = pages.text(response)
    assert "<em>typed</em>" in body
    assert ">\n*typed*</textarea>" in body  # what was typed stays in the editor


def test_publish_makes_a_version_with_its_note(web_for, pages, project, lead):
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/guidelines/publish/", {"body": V1, "note": "first cut"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/guidelines/"
    version = GuidelineVersion.objects.get(project=project)
    assert (version.number, version.body, version.note, version.author) == (
        1,
        V1,
        "first cut",
        lead,
    )
    assert GuidelineDraft.objects.get(project=project).body == V1
    assert "Published version 1 of the guidelines." in pages.messages(
        client.get(response["Location"])
    )


def test_htmx_publish_returns_the_published_page(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/guidelines/publish/",
        {"body": V1, "note": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert response["HX-Replace-Url"] == f"/projects/{project.pk}/guidelines/"
    assert "<p>Choose one label.</p>" in article(response)


def test_publishing_nothing_is_a_400(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/guidelines/publish/", {"body": "   \n", "note": "empty"}
    )
    assert response.status_code == 400
    assert "The guidelines are empty" in pages.field_errors(response, "id_body")
    assert pages.input_value(response, "id_note") == "empty"
    assert not GuidelineVersion.objects.exists()


def test_a_too_long_note_is_a_400(web_for, pages, project, lead):
    response = web_for(lead).post(
        f"/projects/{project.pk}/guidelines/publish/", {"body": V1, "note": "n" * 501}
    )
    assert response.status_code == 400
    assert "Change note must be text of at most 500 characters" in pages.field_errors(
        response, "id_note"
    )
    assert not GuidelineVersion.objects.exists()


def test_publishing_an_unchanged_text_is_a_409(web_for, pages, two_versions, lead):
    response = web_for(lead).post(
        f"/projects/{two_versions.pk}/guidelines/publish/", {"body": V2, "note": "again"}
    )
    assert response.status_code == 409
    assert "Nothing changed since version 2." in pages.messages(response)
    assert GuidelineVersion.objects.filter(project=two_versions).count() == 2


def test_archived_project_shows_a_read_only_editor_and_refuses_writes(
    web_for, pages, project, lead
):
    services.project_archive(project=project, user=lead)
    client = web_for(lead)
    editor = client.get(f"/projects/{project.pk}/guidelines/edit/")
    assert editor.status_code == 200
    assert '<fieldset class="plain" disabled>' in pages.text(editor)
    for url in ("draft", "publish"):
        response = client.post(
            f"/projects/{project.pk}/guidelines/{url}/", {"body": V1, "note": ""}
        )
        assert response.status_code == 409
    assert GuidelineDraft.objects.get(project=project).body == ""
    assert not GuidelineVersion.objects.exists()


class Elements(HTMLParser):
    """Every element of an HTML fragment with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_no_active_content(html: str) -> None:
    for tag, attrs in Elements(html).found:
        assert tag not in {"script", "style", "iframe", "object", "form", "div"}, tag
        for name, value in attrs.items():
            assert not name.startswith(("hx-", "on", "data-")), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name)


def test_script_and_htmx_attributes_in_guidelines_render_as_text(
    web_for, pages, project, lead, annotator
):
    body = (
        "# Title\n\n<script>window.__pwned=1</script>\n\n"
        '<div hx-get="/accounts/logout/" hx-trigger="load">x</div>\n\n'
        "[click](javascript:alert%281%29) <img src=x onerror=alert(1)>\n\n"
        "![pic](https://example.org/a.png)\n"
    )
    services.guideline_publish(project=project, user=lead, body=body, note="")
    for url in ("guidelines/", "guidelines/1/"):
        response = web_for(annotator).get(f"/projects/{project.pk}/{url}")
        rendered = article(response)
        assert_no_active_content(rendered)
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in rendered  # shown as text
        assert '<img src="https://example.org/a.png" alt="pic">' in rendered  # Markdown still works
        pages.assert_inert(
            response, "<script>window.__pwned=1</script>", "<img src=x onerror=alert(1)>"
        )
    preview = web_for(lead).post(
        f"/projects/{project.pk}/guidelines/preview/", {"body": body}, HTTP_HX_REQUEST="true"
    )
    assert_no_active_content(pages.text(preview))
