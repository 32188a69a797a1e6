"""The base layout (landmarks, skip link, htmx and CSP hooks) and the account
and error templates."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, override_settings

from projects import services
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


def test_layout_has_landmarks_skip_link_and_static_scripts_only(web_for, pages, lead):
    body = pages.text(web_for(lead).get("/"))
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in body
    assert '<main id="main" tabindex="-1">' in body
    assert '<nav class="site-nav" aria-label="Main">' in body
    assert '<div id="messages" class="messages" role="status" aria-live="polite">' in body
    assert '<script src="/static/vendor/htmx/htmx-2.0.11.min.js" defer></script>' in body
    assert '<script src="/static/js/accord.js" defer></script>' in body
    assert '<link rel="stylesheet" href="/static/css/accord.css">' in body
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[A-Za-z0-9]{64}\"\}'>", body)
    assert '"includeIndicatorStyles": false' in body
    assert 'href="/api/docs/"' in body and 'href="/accounts/password/"' in body
    assert '<form method="post" action="/accounts/logout/"' in body


def test_no_inline_script_style_or_handlers_on_any_page(web_for, pages, project, lead):
    services.guideline_publish(project=project, user=lead, body="# x", note="")
    services.guideline_publish(project=project, user=lead, body="# y", note="")
    client = web_for(lead)
    for url in [
        "/",
        "/projects/new/",
        *pages.project_urls(project),
        f"/projects/{project.pk}/guidelines/1/",
    ]:
        body = pages.text(client.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), url
        assert not re.search(r"\sstyle=", body), url
        assert not re.search(r"<style", body), url
        assert not re.search(r"\son[a-z]+=", body), url
        assert "hx-on" not in body and "javascript:" not in body, url


def test_responses_carry_the_content_security_policy(web_for, lead):
    policy = web_for(lead).get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy


def test_login_page(web_for, pages):
    response = web_for(None).get("/accounts/login/?next=/projects/new/")
    assert response.status_code == 200
    body = pages.text(response)
    assert '<label for="id_username">Username</label>' in body
    assert '<label for="id_password">Password</label>' in body
    assert '<input type="hidden" name="next" value="/projects/new/">' in body
    assert "Signed in as" not in body and "Log out" not in body


def test_login_failure_and_throttle_messages(web_for, pages, lead, settings):
    settings.ACCORD_LOGIN_ATTEMPTS_PER_USER = 2
    client = web_for(None)
    wrong = client.post("/accounts/login/", {"username": "lead", "password": "wrong"})
    assert wrong.status_code == 200
    assert "Please enter a correct username and password" in pages.text(wrong)
    client.post("/accounts/login/", {"username": "lead", "password": "wrong"})
    throttled = client.post("/accounts/login/", {"username": "lead", "password": PASSWORD})
    assert throttled.status_code == 429
    assert "Too many sign-in attempts." in pages.text(throttled)
    assert 'role="alert"' in pages.text(throttled)


def test_password_change_page(web_for, pages, lead):
    response = web_for(lead).get("/accounts/password/")
    assert response.status_code == 200
    body = pages.text(response)
    for field in ("old_password", "new_password1", "new_password2"):
        assert f'<label for="id_{field}">' in body
    assert 'aria-current="page">Change password</a>' in body
    bad = web_for(lead).post(
        "/accounts/password/", {"old_password": "nope", "new_password1": "x", "new_password2": "y"}
    )
    assert bad.status_code == 200
    assert 'id="id_old_password_error"' in pages.text(bad)


def test_invite_accept_and_invalid_pages(web_for, pages, project, lead):
    token, _ = services.invite_create(
        project=project, email="guest@example.org", roles=["annotator", "reviewer"], user=lead
    )
    page = web_for(None).get(f"/accounts/invite/{token}/")
    assert page.status_code == 200
    body = pages.text(page)
    assert "Join “Sentiment”" in body
    assert (
        "<strong>Reviewer, Annotator</strong>" in body
        or "<strong>Annotator, Reviewer</strong>" in body
    )
    assert "guest@example.org" in body
    assert '<label for="id_username">Username</label>' in body
    invalid = web_for(None).get("/accounts/invite/not-a-token/")
    assert invalid.status_code == 404
    assert "This invite link doesn’t work" in pages.text(invalid)


def test_404_page_is_friendly(web_for, pages, outsider):
    response = web_for(outsider).get("/projects/999999/")
    assert response.status_code == 404
    assert "Page not found" in pages.text(response)
    assert '<nav class="site-nav"' in pages.text(response)


def test_500_page_shows_no_internals():
    body = render_to_string("500.html")
    assert "Something went wrong" in body
    for secret in ("Traceback", "SECRET_KEY", "DATABASE", "settings", 'File "'):
        assert secret not in body


@override_settings(DEBUG=False)
def test_a_crash_answers_with_the_500_page(project, lead):
    client = Client(raise_request_exception=False)
    client.force_login(lead)

    # A fault outside our code: the database refuses every query.
    def refuse(*args, **kwargs):
        raise RuntimeError("database exploded with secret details")

    with connection.execute_wrapper(lambda execute, sql, params, many, context: refuse()):
        response = client.get(f"/projects/{project.pk}/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "secret details" not in body and "Traceback" not in body
