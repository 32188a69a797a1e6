"""The Django admin is for superusers only: a staff flag is no way in (SECURITY.md A5)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ["/admin/", "/admin/accounts/user/", "/admin/accounts/apitoken/"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_without_superuser_is_sent_to_admin_login(web_for, make_user, path):
    staff = make_user("staffer", is_staff=True)
    response = web_for(staff).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_project_lead_is_sent_to_admin_login(web_for, project, lead, path):
    response = web_for(lead).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_is_sent_to_admin_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_superuser_gets_in(web_for, make_user):
    root = make_user("root", is_staff=True, is_superuser=True)
    assert web_for(root).get("/admin/").status_code == 200


def test_staff_cannot_make_themselves_superuser(web_for, make_user):
    staff = make_user("staffer", is_staff=True)
    response = web_for(staff).post(
        f"/admin/accounts/user/{staff.pk}/change/",
        {"username": "staffer", "is_staff": "on", "is_superuser": "on", "is_active": "on"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    staff.refresh_from_db()
    assert not staff.is_superuser


def test_staff_admin_login_is_refused(make_user, client):
    from tests.conftest import PASSWORD

    make_user("staffer", is_staff=True)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "staffer", "password": PASSWORD}
    )
    assert client.get("/admin/").status_code == 302
    assert response.status_code in (200, 302)
