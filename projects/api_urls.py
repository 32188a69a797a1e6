from django.urls import path

from . import api

urlpatterns = [
    path("projects/", api.ProjectListView.as_view(), name="project-list"),
    path("projects/<int:project_id>/", api.ProjectDetailView.as_view(), name="project-detail"),
    path(
        "projects/<int:project_id>/archive/",
        api.ProjectArchiveView.as_view(),
        name="project-archive",
    ),
    path(
        "projects/<int:project_id>/unarchive/",
        api.ProjectUnarchiveView.as_view(),
        name="project-unarchive",
    ),
    path("projects/<int:project_id>/config/", api.ConfigView.as_view(), name="project-config"),
    path("projects/<int:project_id>/members/", api.MemberListView.as_view(), name="member-list"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        api.MemberDetailView.as_view(),
        name="member-detail",
    ),
    path("projects/<int:project_id>/invites/", api.InviteListView.as_view(), name="invite-list"),
    path(
        "projects/<int:project_id>/invites/<int:invite_id>/",
        api.InviteDetailView.as_view(),
        name="invite-detail",
    ),
    path(
        "projects/<int:project_id>/guidelines/",
        api.GuidelineListView.as_view(),
        name="guideline-list",
    ),
    path(
        "projects/<int:project_id>/guidelines/draft/",
        api.GuidelineDraftView.as_view(),
        name="guideline-draft",
    ),
    path(
        "projects/<int:project_id>/guidelines/diff/",
        api.GuidelineDiffView.as_view(),
        name="guideline-diff",
    ),
    path(
        "projects/<int:project_id>/guidelines/<int:number>/",
        api.GuidelineDetailView.as_view(),
        name="guideline-detail",
    ),
    path("projects/<int:project_id>/stats/", api.StatsView.as_view(), name="project-stats"),
]
