"""django-guardian pitfalls: global and group permissions never widen what a
user sees (A9), and permission rows die with their project (A10)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from projects import access
from projects.models import Project, ProjectGroupObjectPermission, ProjectUserObjectPermission

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_projects(make_project, lead, outsider):
    mine = make_project(outsider, name="Outsider project")
    theirs = make_project(lead, name="Secret lead project")
    return mine, theirs


def visible(api_for, user) -> set[int]:
    response = api_for(user).get("/api/v1/projects/")
    assert response.status_code == 200
    return {p["id"] for p in response.json()["results"]}


def assert_sees_only(api_for, web_for, user, mine, theirs):
    assert visible(api_for, user) == {mine.pk}
    assert set(access.projects_for_user(user)) == {mine}
    for perm in access.ALL_PERMISSIONS:
        assert theirs not in access.projects_for_user(user, perm)
    assert api_for(user).get(f"/api/v1/projects/{theirs.pk}/").status_code == 404
    assert api_for(user).get(f"/api/v1/projects/{theirs.pk}/members/").status_code == 404
    assert web_for(user).get(f"/projects/{theirs.pk}/").status_code == 404
    assert theirs.name not in web_for(user).get("/").content.decode()


def test_global_permission_grants_no_project(api_for, web_for, two_projects, outsider):
    mine, theirs = two_projects
    for codename in access.ALL_PERMISSIONS:
        outsider.user_permissions.add(Permission.objects.get(codename=codename))
    outsider = type(outsider).objects.get(pk=outsider.pk)  # drop the permission cache
    assert outsider.has_perm("projects.view_project")  # the global grant is real
    assert_sees_only(api_for, web_for, outsider, mine, theirs)


def test_group_permission_grants_no_project(api_for, web_for, two_projects, outsider):
    mine, theirs = two_projects
    group = Group.objects.create(name="everyone")
    group.permissions.add(Permission.objects.get(codename="view_project"))
    outsider.groups.add(group)
    # A group object permission on the project too: memberships are the only source.
    assign_perm("projects.view_project", group, theirs)
    assign_perm("projects.change_project", group, theirs)
    assert ProjectGroupObjectPermission.objects.filter(content_object=theirs).count() == 2
    assert_sees_only(api_for, web_for, outsider, mine, theirs)
    response = api_for(outsider).patch(
        f"/api/v1/projects/{theirs.pk}/", {"name": "x"}, format="json"
    )
    assert response.status_code == 404


def test_superuser_is_not_a_member_of_everything(api_for, web_for, two_projects, make_user):
    mine, theirs = two_projects
    root = make_user("root", is_superuser=True, is_staff=True)
    assert visible(api_for, root) == set()
    assert api_for(root).get(f"/api/v1/projects/{theirs.pk}/").status_code == 404


def test_deleting_a_project_deletes_its_permission_rows(project, lead):
    pk = project.pk
    assert ProjectUserObjectPermission.objects.filter(content_object_id=pk).exists()
    project.delete()
    assert ProjectUserObjectPermission.objects.filter(content_object_id=pk).count() == 0
    assert ProjectGroupObjectPermission.objects.filter(content_object_id=pk).count() == 0


def test_reused_primary_key_grants_nobody_anything(api_for, project, lead, annotator, outsider):
    pk = project.pk
    project.delete()
    reborn = Project.objects.create(pk=pk, name="Reborn", task_type="classification")
    assert ProjectUserObjectPermission.objects.filter(content_object_id=pk).count() == 0
    # No generic (content-type) rows exist that could point at the reused pk.
    assert UserObjectPermission.objects.count() == 0
    for user in (lead, annotator, outsider):
        assert access.user_permissions(user, reborn) == frozenset()
        assert api_for(user).get(f"/api/v1/projects/{pk}/").status_code == 404
