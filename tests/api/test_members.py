"""Members: add, update, list, remove; the last lead stays; roles validated.
Permissions follow memberships (DESIGN.md, Permissions; SECURITY.md A5, A7)."""

from __future__ import annotations

import pytest

from projects import access
from projects.models import Membership, ProjectUserObjectPermission

from .conftest import fields_of

pytestmark = pytest.mark.django_db


def members_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/members/"


def listed(api, project) -> dict[str, list[str]]:
    response = api.get(members_url(project))
    assert response.status_code == 200
    return {m["username"]: m["roles"] for m in response.json()["results"]}


def test_members_are_listed_with_roles(api_for, project, annotator):
    assert listed(api_for(annotator), project) == {
        "annotator": ["annotator"],
        "lead": ["lead"],
        "reviewer": ["reviewer"],
    }


def test_lead_adds_a_member_who_then_sees_the_project(api_for, project, lead, outsider):
    response = api_for(lead).post(
        members_url(project), {"user": outsider.pk, "roles": ["annotator"]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["roles"] == ["annotator"]
    assert api_for(outsider).get(f"/api/v1/projects/{project.pk}/").status_code == 200
    assert access.user_permissions(outsider, project) == {access.VIEW, access.ANNOTATE}


def test_posting_an_existing_member_updates_roles(api_for, project, lead, annotator):
    response = api_for(lead).post(
        members_url(project),
        {"user": annotator.pk, "roles": ["reviewer", "annotator"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["roles"] == ["reviewer", "annotator"]
    assert access.user_permissions(annotator, project) == {
        access.VIEW,
        access.ANNOTATE,
        access.REVIEW,
    }


def test_promoted_member_gains_lead_permissions(api_for, project, lead, annotator):
    api_for(lead).post(
        members_url(project), {"user": annotator.pk, "roles": ["lead"]}, format="json"
    )
    response = api_for(annotator).patch(
        f"/api/v1/projects/{project.pk}/", {"name": "Mine now"}, format="json"
    )
    assert response.status_code == 200


def test_removed_member_loses_access(api_for, project, lead, annotator):
    response = api_for(lead).delete(f"{members_url(project)}{annotator.pk}/")
    assert response.status_code == 204
    assert "annotator" not in listed(api_for(lead), project)
    assert api_for(annotator).get(f"/api/v1/projects/{project.pk}/").status_code == 404
    assert not ProjectUserObjectPermission.objects.filter(user=annotator).exists()


def test_removing_a_non_member_is_404(api_for, project, lead, outsider):
    response = api_for(lead).delete(f"{members_url(project)}{outsider.pk}/")
    assert response.status_code == 404


def test_removing_the_last_lead_is_409(api_for, project, lead):
    response = api_for(lead).delete(f"{members_url(project)}{lead.pk}/")
    assert response.status_code == 409
    assert "lead" in response.json()["detail"]
    assert Membership.objects.get(project=project, user=lead).is_lead
    assert access.has_perm(lead, project, access.MANAGE_MEMBERS)


def test_demoting_the_last_lead_is_409(api_for, project, lead):
    response = api_for(lead).post(
        members_url(project), {"user": lead.pk, "roles": ["annotator"]}, format="json"
    )
    assert response.status_code == 409
    assert Membership.objects.get(project=project, user=lead).roles == ["lead"]


def test_an_inactive_second_lead_does_not_count(api_for, project, lead, reviewer):
    api_for(lead).post(
        members_url(project), {"user": reviewer.pk, "roles": ["lead"]}, format="json"
    )
    reviewer.is_active = False
    reviewer.save()
    response = api_for(lead).delete(f"{members_url(project)}{lead.pk}/")
    assert response.status_code == 409


def test_a_lead_can_leave_once_another_lead_exists(api_for, project, lead, reviewer):
    api = api_for(lead)
    api.post(members_url(project), {"user": reviewer.pk, "roles": ["lead"]}, format="json")
    assert api.delete(f"{members_url(project)}{lead.pk}/").status_code == 204
    assert api_for(lead).get(f"/api/v1/projects/{project.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"roles": []}, "roles"),
        ({"roles": "lead"}, "roles"),
        ({"roles": ["boss"]}, "roles"),
        ({"roles": ["annotator", "admin"]}, "roles"),
        ({"roles": [{"lead": True}]}, "roles"),
        ({}, "roles"),
    ],
)
def test_roles_are_validated(api_for, project, lead, outsider, body, field):
    response = api_for(lead).post(members_url(project), {"user": outsider.pk} | body, format="json")
    assert response.status_code == 400
    assert field in fields_of(response)
    assert not Membership.objects.filter(user=outsider).exists()


@pytest.mark.parametrize("user", ["1", None, True, 10**9, [1]])
def test_user_must_be_an_active_user_id(api_for, project, lead, user):
    before = Membership.objects.count()
    response = api_for(lead).post(
        members_url(project), {"user": user, "roles": ["annotator"]}, format="json"
    )
    assert response.status_code == 400
    assert "user" in fields_of(response)
    assert Membership.objects.count() == before


def test_inactive_user_cannot_be_added(api_for, project, lead, make_user):
    sleeper = make_user("sleeper", is_active=False)
    response = api_for(lead).post(
        members_url(project), {"user": sleeper.pk, "roles": ["annotator"]}, format="json"
    )
    assert response.status_code == 400
    assert "user" in fields_of(response)


def test_unknown_member_fields_are_refused(api_for, project, lead, outsider):
    # A5: nothing but roles can be granted through membership.
    response = api_for(lead).post(
        members_url(project),
        {"user": outsider.pk, "roles": ["annotator"], "is_staff": True},
        format="json",
    )
    assert response.status_code == 400
    assert fields_of(response) == {"is_staff": "unknown field"}
    outsider.refresh_from_db()
    assert not outsider.is_staff


def test_granting_lead_never_grants_global_rights(api_for, project, lead, outsider):
    # A5: a lead grants object permissions on this project, nothing global.
    api_for(lead).post(
        members_url(project), {"user": outsider.pk, "roles": ["lead"]}, format="json"
    )
    outsider.refresh_from_db()
    assert not (outsider.is_staff or outsider.is_superuser)
    assert not outsider.user_permissions.exists()
    assert not outsider.groups.exists()
