"""Membership is the source of truth; guardian rows follow it in the same
transaction, and a project never loses its last lead."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accord.errors import Conflict, InvalidInput
from projects import access, services
from projects.fields import input_validate
from projects.models import Membership, ProjectUserObjectPermission
from projects.serializers import MemberRolesInput, ProjectCreateInput


def perms(user, project) -> set[str]:
    return set(access.user_permissions(user, project))


@pytest.mark.django_db
def test_roles_map_to_object_permissions(project, lead, annotator, reviewer, outsider):
    assert perms(lead, project) == set(access.ROLE_PERMISSIONS["lead"])
    assert perms(annotator, project) == {access.VIEW, access.ANNOTATE}
    assert perms(reviewer, project) == {access.VIEW, access.REVIEW}
    assert perms(outsider, project) == set()


@pytest.mark.django_db
def test_changing_roles_replaces_permissions(project, annotator):
    services.membership_set(project=project, user=annotator, roles=["reviewer", "annotator"])
    assert perms(annotator, project) == {access.VIEW, access.ANNOTATE, access.REVIEW}
    services.membership_set(project=project, user=annotator, roles=["reviewer"])
    assert perms(annotator, project) == {access.VIEW, access.REVIEW}
    services.membership_remove(project=project, user=annotator)
    assert perms(annotator, project) == set()
    assert not ProjectUserObjectPermission.objects.filter(user=annotator).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("roles", [[], "lead", ["owner"], None])
def test_bad_roles_are_refused(api_for, project, lead, annotator, roles):
    # The roles are judged by the input serializer the API and the pages share.
    with pytest.raises(InvalidInput) as err:
        input_validate(MemberRolesInput, {"roles": roles})
    assert err.value.errors[0]["field"] == "roles"
    response = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/members/",
        {"user": annotator.pk, "roles": roles},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "roles"
    assert Membership.objects.get(project=project, user=annotator).roles == ["annotator"]


@pytest.mark.django_db
def test_last_lead_can_be_neither_removed_nor_demoted(project, lead):
    with pytest.raises(Conflict):
        services.membership_remove(project=project, user=lead)
    with pytest.raises(Conflict):
        services.membership_set(project=project, user=lead, roles=["annotator"])
    assert Membership.objects.get(project=project, user=lead).is_lead


@pytest.mark.django_db(transaction=True)
def test_two_leads_removing_each_other_at_once_leave_one_lead(make_user, make_project):
    first, second = make_user("lead-a"), make_user("lead-b")
    project = make_project(first)
    services.membership_set(project=project, user=second, roles=["lead"])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def remove(user):
        try:
            barrier.wait()
            services.membership_remove(project=project, user=user)
            outcomes.append("removed")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=remove, args=(u,)) for u in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "removed"]
    assert Membership.objects.filter(project=project, is_lead=True).count() == 1


@pytest.mark.django_db
def test_an_accepted_invite_cannot_be_revoked(project, lead):
    token, invite = services.invite_create(
        project=project, email="new@example.org", roles=["annotator"], user=lead
    )
    services.invite_accept(token=token, username="newbie", password="a long enough passphrase 9")
    with pytest.raises(Conflict):
        services.invite_revoke(invite=invite)


@pytest.mark.django_db
def test_project_create_reports_settings_and_schema_errors_together(lead):
    with pytest.raises(InvalidInput) as err:
        input_validate(
            ProjectCreateInput,
            {"name": "", "task_type": "classification", "config": {"labels": []}, "overlap": 0},
        )
    fields = {e["field"] for e in err.value.errors}
    assert {"name", "overlap", "config.labels"} <= fields
