"""Who may open which project page and post which form.

Outsiders get 404 for everything in a project (they must not learn it
exists); members without the permission get 403; anonymous users are sent to
the login page. Every refused write leaves the project unchanged.
"""

from __future__ import annotations

import re

import pytest

from projects import services
from projects.models import Invite, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]

# page → expected status for (lead, annotator, reviewer, outsider)
PAGES = {
    "": (200, 200, 200, 404),
    "settings/": (200, 403, 403, 404),
    "members/": (200, 200, 200, 404),
    "guidelines/": (200, 200, 200, 404),
    "guidelines/1/": (200, 200, 200, 404),
    "guidelines/diff/": (200, 200, 200, 404),
    "guidelines/edit/": (200, 403, 403, 404),
}
ROLES = ("lead", "annotator", "reviewer", "outsider")


@pytest.fixture
def published(project, lead):
    services.guideline_publish(project=project, user=lead, body="# Rules\n\nBe kind.", note="v1")
    return project


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_page_matrix(request, web_for, published, page, role):
    user = request.getfixturevalue(role)
    response = web_for(user).get(f"/projects/{published.pk}/{page}")
    assert response.status_code == PAGES[page][ROLES.index(role)]


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_htmx_partial_matrix(request, web_for, pages, published, page, role):
    """The same answers for htmx, and an allowed page is only its partial."""
    user = request.getfixturevalue(role)
    response = web_for(user).get(f"/projects/{published.pk}/{page}", HTTP_HX_REQUEST="true")
    expected = PAGES[page][ROLES.index(role)]
    assert response.status_code == expected
    assert pages.is_partial(response)
    if expected == 200:
        body = pages.text(response)
        assert "<title>" in body  # htmx updates the document title from it
        assert 'hx-swap-oob="innerHTML"' in body  # messages go to the live region
        assert 'aria-current="page"' in body  # the current tab
        assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(web_for, pages, published, lead):
    response = web_for(lead).get(
        f"/projects/{published.pk}/members/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert response.status_code == 200
    assert not pages.is_partial(response)


@pytest.mark.parametrize("page", list(PAGES))
def test_anonymous_is_sent_to_login(web_for, published, page):
    response = web_for(None).get(f"/projects/{published.pk}/{page}")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("page", ["", "settings/", "members/", "guidelines/"])
def test_a_project_that_does_not_exist_is_the_same_404(web_for, pages, project, outsider, page):
    missing = web_for(outsider).get(f"/projects/{project.pk + 1000}/{page}")
    foreign = web_for(outsider).get(f"/projects/{project.pk}/{page}")
    assert missing.status_code == foreign.status_code == 404

    def without_tokens(response) -> str:
        return re.sub(r'(X-CSRFToken": "|value=")[A-Za-z0-9]{64}', "", pages.text(response))

    assert without_tokens(missing) == without_tokens(foreign)


def test_a_missing_guideline_version_is_404_for_members(web_for, published, annotator):
    assert web_for(annotator).get(f"/projects/{published.pk}/guidelines/9/").status_code == 404


def mutations(project, lead, invite) -> list[tuple[str, dict]]:
    base = f"/projects/{project.pk}"
    return [
        (f"{base}/settings/save/", {"name": "Taken over"}),
        (f"{base}/schema/", {"labels-TOTAL_FORMS": "0", "labels-INITIAL_FORMS": "0"}),
        (f"{base}/archive/", {}),
        (f"{base}/unarchive/", {}),
        (f"{base}/members/add/", {"username": "outsider", "roles": ["lead"]}),
        (f"{base}/members/{lead.pk}/roles/", {"roles": ["annotator"]}),
        (f"{base}/members/{lead.pk}/remove/", {}),
        (f"{base}/invites/", {"email": "x@example.org", "roles": ["lead"]}),
        (f"{base}/invites/{invite.pk}/revoke/", {}),
        (f"{base}/guidelines/draft/", {"body": "hijacked"}),
        (f"{base}/guidelines/preview/", {"body": "# hi"}),
        (f"{base}/guidelines/publish/", {"body": "hijacked", "note": "x"}),
    ]


@pytest.fixture
def invite(project, lead):
    _, invite = services.invite_create(
        project=project, email="new@example.org", roles=["annotator"], user=lead
    )
    return invite


def assert_untouched(project, lead, invite):
    project.refresh_from_db()
    assert project.name == "Sentiment"
    assert project.archived_at is None
    assert Membership.objects.get(project=project, user=lead).roles == ["lead"]
    assert not Membership.objects.filter(project=project, user__username="outsider").exists()
    assert Invite.objects.filter(project=project).count() == 1
    assert Invite.objects.get(pk=invite.pk).revoked_at is None
    assert project.guideline_draft.body == ""
    assert not project.guideline_versions.exists()


@pytest.mark.parametrize("index", range(12))
def test_outsider_gets_404_for_every_write(web_for, project, lead, outsider, invite, index):
    url, data = mutations(project, lead, invite)[index]
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        assert web_for(outsider).post(url, data, **htmx).status_code == 404
    assert_untouched(project, lead, invite)


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
@pytest.mark.parametrize("index", range(12))
def test_members_without_the_permission_get_403(
    request, web_for, project, lead, invite, role, index
):
    user = request.getfixturevalue(role)
    url, data = mutations(project, lead, invite)[index]
    assert web_for(user).post(url, data).status_code == 403
    assert_untouched(project, lead, invite)


@pytest.mark.parametrize("index", range(12))
def test_anonymous_writes_go_to_login(web_for, project, lead, invite, index):
    url, data = mutations(project, lead, invite)[index]
    response = web_for(None).post(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert_untouched(project, lead, invite)


@pytest.mark.parametrize("index", range(12))
def test_writes_are_post_only(web_for, project, lead, invite, index):
    url, _ = mutations(project, lead, invite)[index]
    assert web_for(lead).get(url).status_code == 405


def test_403_page_is_friendly_and_htmx_gets_a_fragment(web_for, pages, project, annotator):
    page = web_for(annotator).get(f"/projects/{project.pk}/settings/")
    assert page.status_code == 403
    assert "You can’t do that here" in pages.text(page)
    assert "<html" in pages.text(page)
    fragment = web_for(annotator).get(f"/projects/{project.pk}/settings/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 403
    assert "You can’t do that here" in pages.text(fragment)
    assert pages.is_partial(fragment)
