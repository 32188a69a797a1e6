"""No user, token or guardian "AnonymousUser" row comes out of migrations
(SECURITY.md D2)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def test_migrate_creates_no_users_and_no_tokens():
    # migrate is a no-op on the test database, but it re-sends post_migrate,
    # which is where guardian would create its anonymous user.
    call_command("migrate", verbosity=0, interactive=False)
    assert get_user_model().objects.count() == 0
    assert ApiToken.objects.count() == 0


def test_no_guardian_anonymous_user(settings):
    from guardian.conf import settings as guardian_settings

    assert settings.ANONYMOUS_USER_NAME is None
    assert guardian_settings.ANONYMOUS_USER_NAME is None
    call_command("migrate", verbosity=0, interactive=False)
    assert not get_user_model().objects.filter(username__iexact="anonymoususer").exists()


def test_anonymous_visitor_holds_no_permission(project, client):
    from django.contrib.auth.models import AnonymousUser

    from projects import access

    assert not access.projects_for_user(AnonymousUser()).exists()
    assert client.get(f"/api/v1/projects/{project.pk}/").status_code == 401
