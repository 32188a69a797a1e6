from __future__ import annotations

from django.urls import path

from . import guideline_views, member_views, views

app_name = "projects"

project = "projects/<int:project_id>/"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("projects/new/", views.project_new, name="new"),
    path(project, views.project_detail, name="detail"),
    # settings, label schema, archive (leads)
    path(f"{project}settings/", views.project_settings, name="settings"),
    path(f"{project}settings/save/", views.settings_update, name="settings_update"),
    path(f"{project}schema/", views.schema_update, name="schema_update"),
    path(f"{project}archive/", views.project_archive, name="archive"),
    path(f"{project}unarchive/", views.project_unarchive, name="unarchive"),
    # members and invites
    path(f"{project}members/", member_views.members, name="members"),
    path(f"{project}members/add/", member_views.member_add, name="member_add"),
    path(f"{project}members/<int:user_id>/roles/", member_views.member_roles, name="member_roles"),
    path(
        f"{project}members/<int:user_id>/remove/", member_views.member_remove, name="member_remove"
    ),
    path(f"{project}invites/", member_views.invite_create, name="invite_create"),
    path(
        f"{project}invites/<int:invite_id>/revoke/",
        member_views.invite_revoke,
        name="invite_revoke",
    ),
    # guidelines
    path(f"{project}guidelines/", guideline_views.guidelines, name="guidelines"),
    path(f"{project}guidelines/edit/", guideline_views.guideline_edit, name="guideline_edit"),
    path(
        f"{project}guidelines/draft/",
        guideline_views.guideline_draft_save,
        name="guideline_draft_save",
    ),
    path(
        f"{project}guidelines/preview/", guideline_views.guideline_preview, name="guideline_preview"
    ),
    path(
        f"{project}guidelines/publish/", guideline_views.guideline_publish, name="guideline_publish"
    ),
    path(f"{project}guidelines/diff/", guideline_views.guideline_diff, name="guideline_diff"),
    path(
        f"{project}guidelines/<int:number>/",
        guideline_views.guideline_version,
        name="guideline_version",
    ),
]
