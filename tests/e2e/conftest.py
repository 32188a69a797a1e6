"""Browser tests: Playwright's sync API driving Debian's Chromium against
pytest-django's ``live_server`` (a real server thread on the test database;
the tests use ``django_db(transaction=True)`` so it sees their rows).

Every page a test opens is watched: a console error, an uncaught exception,
a Content-Security-Policy violation or a set ``window.__pwned`` (the XSS
payloads' sentinel) fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Playwright waits this long for a selector or an expectation by default.
TIMEOUT_MS = 10_000

# Runs in every page before its own scripts: records CSP violations, which
# the page cannot hide from us.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def _async_unsafe() -> Iterator[None]:
    """Playwright's sync API keeps an asyncio loop running in this thread, so
    Django would refuse the ORM calls the tests and their fixtures make
    (database flushes included). Allowed only while a browser is open."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_async_unsafe):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The live server runs in this process, so it hashes the same way.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class PageProblems:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def on_page_error(self, error) -> None:
        self.errors.append(f"uncaught: {error}")


@contextlib.contextmanager
def watched_page(browser, live_server) -> Iterator[object]:
    """A page in a browser context of its own, whose console errors, uncaught
    errors and CSP violations fail the test when it is done."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.problems = problems
    yield page
    try:
        assert_clean(page)
    finally:
        context.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    with watched_page(browser, live_server) as watched:
        yield watched


def assert_clean(page) -> None:
    """No console error, uncaught exception, CSP violation or XSS sentinel so far."""
    assert page.problems.errors == []
    assert page.evaluate("window.__cspViolations || []") == []
    assert page.evaluate("window.__pwned === undefined"), "an XSS payload ran"


@pytest.fixture
def login(page) -> Callable[[str, str], None]:
    def sign_in(username: str, password: str) -> None:
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))
        assert page.locator(".site-user strong").inner_text() == username

    return sign_in
