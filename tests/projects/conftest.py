"""Fixtures for the project pages' tests (tests/projects/test_pages_*.py)."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from items.services import ItemRow, items_create

# The payloads every page must show as inert text.
XSS_PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '" onmouseover="x',
    "<img src=x onerror=alert(1)>",
)
TEMPLATE_PAYLOAD = "{{7*7}}"


@pytest.fixture
def fast_hasher(settings):
    # PBKDF2 at Django's default cost takes ~0.5 s per user; not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Pages:
    """Reading the HTML the pages answer with."""

    @staticmethod
    def text(response) -> str:
        return response.content.decode()

    @staticmethod
    def project_urls(project) -> list[str]:
        """Every GET page of a project."""
        base = f"/projects/{project.pk}"
        return [
            f"{base}/",
            f"{base}/settings/",
            f"{base}/members/",
            f"{base}/guidelines/",
            f"{base}/guidelines/edit/",
            f"{base}/guidelines/diff/",
        ]

    @staticmethod
    def field_errors(response, field_id: str) -> str:
        """The text of the error list Django renders beside ``field_id``
        (``<ul class="errorlist" id="<field_id>_error">``), or ""."""
        match = re.search(
            rf'<ul class="errorlist[^"]*" id="{re.escape(field_id)}_error">(.*?)</ul>',
            response.content.decode(),
            re.S,
        )
        return html.unescape(re.sub(r"<[^>]+>", " ", match[1])).strip() if match else ""

    @staticmethod
    def input_value(response, field_id: str) -> str | None:
        """The value attribute of the input with ``field_id`` (unescaped)."""
        tag = re.search(
            rf'<input[^>]*\bid="{re.escape(field_id)}"[^>]*>', response.content.decode()
        )
        if tag is None:
            return None
        value = re.search(r'\bvalue="([^"]*)"', tag[0])
        return html.unescape(value[1]) if value else ""

    @staticmethod
    def messages(response) -> str:
        """The text of the flash messages in the page (or the htmx out-of-band block)."""
        found = re.findall(
            r'<p class="message message--\w+">(.*?)</p>', response.content.decode(), re.S
        )
        return " ".join(html.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in found)

    @staticmethod
    def is_partial(response) -> bool:
        body = response.content.decode()
        return "<html" not in body and "<body" not in body and 'id="project-page"' not in body

    @staticmethod
    def assert_inert(response, *payloads: str) -> None:
        """None of the payloads appears raw: each is escaped into text."""
        body = response.content.decode()
        for payload in payloads or XSS_PAYLOADS:
            assert payload not in body, f"{payload!r} appears unescaped"


@pytest.fixture
def pages() -> Pages:
    return Pages()


@pytest.fixture
def csrf_client():
    """A logged-in client that checks CSRF tokens like the real site, and a
    way to fetch a token from a page as a browser would."""

    class CsrfClient(Client):
        def token(self, url: str = "/") -> str:
            self.get(url)
            return self.cookies["csrftoken"].value

    def make(user) -> CsrfClient:
        client = CsrfClient(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def add_items(db):
    def add(project, texts: list[str]) -> int:
        from projects import services

        config = services.project_config(project).config
        return items_create(
            project=project, rows=[ItemRow(data={"text": t}) for t in texts], config=config
        )

    return add
