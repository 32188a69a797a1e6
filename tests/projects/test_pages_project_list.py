"""The project list at "/": the caller's projects only, with counts and progress."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects import services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


def test_anonymous_is_sent_to_login(web_for):
    response = web_for(None).get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("who", ["lead", "annotator", "reviewer"])
def test_members_see_the_project_with_their_roles(request, web_for, pages, project, who):
    user = request.getfixturevalue(who)
    response = web_for(user).get("/")
    assert response.status_code == 200
    body = pages.text(response)
    assert f'href="/projects/{project.pk}/"' in body
    assert ">Sentiment</a>" in body
    assert f"<td>{who.capitalize()}</td>" in body


def test_outsider_sees_no_foreign_project_but_can_create_one(web_for, pages, project, outsider):
    response = web_for(outsider).get("/")
    assert response.status_code == 200
    body = pages.text(response)
    assert "Sentiment" not in body
    assert f"/projects/{project.pk}/" not in body
    assert "You are not in any project yet" in body
    assert 'href="/projects/new/"' in body


def test_counts_progress_and_archived_marker(web_for, pages, lead, make_project, add_items):
    active = make_project(lead, name="Active one")
    add_items(active, ["a", "b", "c", "d"])
    archived = make_project(lead, name="Old one")
    services.project_archive(project=archived, user=lead)

    body = pages.text(web_for(lead).get("/"))

    row = body[body.index("Active one") : body.index("</tr>", body.index("Active one"))]
    assert '<td class="num">4</td>' in row  # total and open
    assert '<progress max="100" value="0"' in row
    assert "0% gold" in row  # the bar also has its value in text
    old_row = body[body.index("Old one") : body.index("</tr>", body.index("Old one"))]
    assert "Archived" in old_row  # in words, not only a style
    assert "Archived" not in row


def test_list_costs_the_same_queries_for_one_and_for_many_projects(web_for, lead, make_project):
    make_project(lead, name="P0")
    client = web_for(lead)
    client.get("/")  # warm the session
    with CaptureQueriesContext(connection) as one:
        assert client.get("/").status_code == 200
    for n in range(1, 6):
        make_project(lead, name=f"P{n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/").status_code == 200
    assert len(many) == len(one)
