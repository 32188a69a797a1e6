"""Text users type is shown as text everywhere: in project names and
descriptions, label names and descriptions, usernames, notes and guideline
Markdown, on every page, full or htmx partial, and in flash messages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from projects import services

from .conftest import TEMPLATE_PAYLOAD, XSS_PAYLOADS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]

ALL = (*XSS_PAYLOADS, TEMPLATE_PAYLOAD)
NAME = "".join(ALL)  # every payload in one project name


class Attributes(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.names: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.names.extend(name for name, _ in attrs)


@pytest.fixture
def hostile(make_user, make_project, add_items, annotate):
    """A project where every user-typed text is a payload."""
    users = [make_user(payload) for payload in ALL]
    lead = users[0]
    config = {
        "multi_label": False,
        "labels": [
            {"key": f"k{i}", "name": payload, "description": payload, "color": "#336699"}
            for i, payload in enumerate(ALL)
        ],
    }
    project = make_project(lead, name=NAME, config=config, description="\n".join(ALL))
    for user in users[1:]:
        services.membership_set(project=project, user=user, roles=["annotator", "reviewer"])
    add_items(project, list(ALL))
    annotate(project, *((user, "k0") for user in users), text="annotated")
    markdown = "\n\n".join(ALL) + "\n\n" + '[link](https://example.org "' + XSS_PAYLOADS[1] + '")'
    services.guideline_publish(project=project, user=lead, body=markdown, note=NAME[:500])
    services.guideline_publish(
        project=project, user=lead, body=markdown + "\n\nmore", note=NAME[:500]
    )
    services.guideline_draft_save(project=project, user=lead, body=markdown + "\n\ndraft")
    services.project_config_update(
        project=project,
        user=lead,
        config={**config, "labels": config["labels"] + [{"key": "z", "name": "Z"}]},
        note=NAME[:500],
    )
    services.invite_create(
        project=project, email="someone@example.org", roles=["annotator"], user=lead
    )
    return project, lead, users


def strict_part(body: str) -> str:
    """The page without the sanitised guideline HTML: there nh3 may leave a
    quote character in a text node, which is harmless (checked separately)."""
    return re.sub(r'<article class="prose card"[^>]*>.*?</article>', "", body, flags=re.S)


def assert_safe(response) -> None:
    body = response.content.decode()
    strict = strict_part(body)
    for payload in XSS_PAYLOADS:
        assert payload not in strict, f"{payload!r} unescaped in {response.request['PATH_INFO']}"
    parsed = Attributes(body)
    assert not [n for n in parsed.names if n.startswith("on")]  # no event handler anywhere
    # Django never evaluates user text as a template: it is shown verbatim.
    assert TEMPLATE_PAYLOAD in body


def project_pages(project) -> list[str]:
    base = f"/projects/{project.pk}"
    return [
        f"{base}/",
        f"{base}/settings/",
        f"{base}/members/",
        f"{base}/guidelines/",
        f"{base}/guidelines/1/",
        f"{base}/guidelines/edit/",
        f"{base}/guidelines/diff/?from=1&to=2",
    ]


def test_every_page_shows_payloads_as_text(web_for, hostile):
    project, lead, _ = hostile
    client = web_for(lead)
    assert_safe(client.get("/"))
    for url in project_pages(project):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            assert response.status_code == 200, url
            assert_safe(response)


def test_annotators_pages_show_payloads_as_text(web_for, hostile):
    project, _, users = hostile
    client = web_for(users[1])
    for url in [
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/members/",
        f"/projects/{project.pk}/guidelines/",
    ]:
        assert_safe(client.get(url))


def test_escaped_forms_of_the_payloads_are_there(web_for, pages, hostile):
    project, lead, _ = hostile
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
    assert "&quot; onmouseover=&quot;x" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_label_colours_and_names_stay_in_their_attribute_and_text(web_for, pages, hostile):
    project, lead, _ = hostile
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    assert body.count('data-color="#336699"') == len(ALL)
    assert '<span class="label-chip__name">&quot; onmouseover=&quot;x</span>' in body


def test_settings_inputs_keep_payloads_inside_their_value(web_for, pages, hostile):
    project, lead, _ = hostile
    response = web_for(lead).get(f"/projects/{project.pk}/settings/")
    assert pages.input_value(response, "id_name") == NAME
    assert pages.input_value(response, "id_labels-1-name") == XSS_PAYLOADS[1]
    assert pages.input_value(response, "id_labels-2-description") == XSS_PAYLOADS[2]


def test_messages_with_payloads_are_escaped(web_for, hostile, make_user):
    project, lead, users = hostile
    client = web_for(lead)
    newcomer = make_user('<b onclick="x">new</b>')
    add = client.post(
        f"/projects/{project.pk}/members/add/",
        {"username": newcomer.username, "roles": ["annotator"]},
        follow=True,
    )
    assert add.status_code == 200
    assert_safe(add)
    assert '<b onclick="x">' not in add.content.decode()
    removed = client.post(
        f"/projects/{project.pk}/members/{users[2].pk}/remove/", HTTP_HX_REQUEST="true"
    )
    assert removed.status_code == 200
    assert_safe(removed)
    created = client.post(
        "/projects/new/",
        {
            "name": NAME, "task_type": "classification", "time_zone": "UTC", "overlap": "2",
            "consensus": "unanimous", "review_policy": "none", "audit_sample": "0", "lease_minutes": "30",
            "labels-TOTAL_FORMS": "2", "labels-INITIAL_FORMS": "0",
            "labels-0-key": "a", "labels-0-name": XSS_PAYLOADS[0],
            "labels-1-key": "b", "labels-1-name": XSS_PAYLOADS[2],
        },
        follow=True,
    )  # fmt: skip
    assert created.status_code == 200
    assert_safe(created)


def test_form_errors_echo_payloads_safely(web_for, hostile):
    project, lead, _ = hostile
    client = web_for(lead)
    bad_label = client.post(
        "/projects/new/",
        {"name": "x", "task_type": XSS_PAYLOADS[0], "overlap": "2", "time_zone": "UTC",
         "consensus": "unanimous", "review_policy": "none", "audit_sample": "0", "lease_minutes": "30",
         "labels-TOTAL_FORMS": "1", "labels-INITIAL_FORMS": "0", "labels-0-key": XSS_PAYLOADS[1],
         "labels-0-name": XSS_PAYLOADS[2]},
    )  # fmt: skip
    assert bad_label.status_code == 400
    body = bad_label.content.decode()
    for payload in XSS_PAYLOADS:
        assert payload not in body
    missing_user = client.post(
        f"/projects/{project.pk}/members/add/",
        {"username": XSS_PAYLOADS[2] + "x", "roles": ["annotator"]},
    )
    assert missing_user.status_code == 400
    assert XSS_PAYLOADS[2] not in missing_user.content.decode()


def test_invite_accept_page_escapes_the_project_name(web_for, pages, hostile):
    project, lead, _ = hostile
    token, _ = services.invite_create(
        project=project, email="guest@example.org", roles=["annotator"], user=lead
    )
    response = web_for(None).get(f"/accounts/invite/{token}/")
    assert response.status_code == 200
    assert_safe(response)
