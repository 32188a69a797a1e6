"""Fixtures for the security suite: a fast password hasher and a "world" with
one project in every state the route matrix needs, plus a second project led
by the outsider (a user of ANOTHER project, SECURITY.md A1/A4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from projects import services


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # PBKDF2 at Django's default cost takes ~0.5 s per user on the 2-core box;
    # the hasher is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    project: object
    other_project: object
    users: dict[str, object]
    invite: object
    invite_token: str
    extra: dict = field(default_factory=dict)

    def user(self, role: str):
        return self.users.get(role)


@pytest.fixture
def world(project, lead, annotator, reviewer, outsider, make_project, make_user) -> World:
    other = make_project(outsider, name="Someone else's project")
    services.guideline_publish(project=project, user=lead, body="# Rules\n\nBe kind.", note="v1")
    services.guideline_publish(
        project=project, user=lead, body="# Rules\n\nBe kind and brief.", note="v2"
    )
    token, invite = services.invite_create(
        project=project, email="invitee@example.org", roles=["annotator"], user=lead
    )
    return World(
        project=project,
        other_project=other,
        users={"lead": lead, "annotator": annotator, "reviewer": reviewer, "outsider": outsider},
        invite=invite,
        invite_token=token,
        extra={"newcomer": make_user("newcomer")},
    )
