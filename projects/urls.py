from __future__ import annotations

from django.urls import path

from .views import guidelines, members, project

app_name = "projects"

one = "projects/<int:project_id>/"

urlpatterns = [
    path("", project.project_list, name="list"),
    path("projects/new/", project.project_new, name="new"),
    path(one, project.project_detail, name="detail"),
    # settings, label schema, archive (leads)
    path(f"{one}settings/", project.project_settings, name="settings"),
    path(f"{one}settings/save/", project.settings_update, name="settings_update"),
    path(f"{one}schema/", project.schema_update, name="schema_update"),
    path(f"{one}archive/", project.project_archive, name="archive"),
    path(f"{one}unarchive/", project.project_unarchive, name="unarchive"),
    # members and invites
    path(f"{one}members/", members.members, name="members"),
    path(f"{one}members/add/", members.member_add, name="member_add"),
    path(f"{one}members/<int:user_id>/roles/", members.member_roles, name="member_roles"),
    path(f"{one}members/<int:user_id>/remove/", members.member_remove, name="member_remove"),
    path(f"{one}invites/", members.invite_create, name="invite_create"),
    path(
        f"{one}invites/<int:invite_id>/revoke/",
        members.invite_revoke,
        name="invite_revoke",
    ),
    # guidelines
    path(f"{one}guidelines/", guidelines.guidelines, name="guidelines"),
    path(f"{one}guidelines/edit/", guidelines.guideline_edit, name="guideline_edit"),
    path(
        f"{one}guidelines/draft/",
        guidelines.guideline_draft_save,
        name="guideline_draft_save",
    ),
    path(f"{one}guidelines/preview/", guidelines.guideline_preview, name="guideline_preview"),
    path(f"{one}guidelines/publish/", guidelines.guideline_publish, name="guideline_publish"),
    path(f"{one}guidelines/diff/", guidelines.guideline_diff, name="guideline_diff"),
    path(
        f"{one}guidelines/<int:number>/",
        guidelines.guideline_version,
        name="guideline_version",
    ),
]
