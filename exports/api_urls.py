from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/exports/", api.ExportListView.as_view(), name="export-list"),
    path("exports/<int:export_id>/", api.ExportDetailView.as_view(), name="export-detail"),
    path(
        "exports/<int:export_id>/download/",
        api.ExportDownloadView.as_view(),
        name="export-download",
    ),
    path(
        "exports/<int:export_id>/compare/<int:other_id>/",
        api.ExportCompareView.as_view(),
        name="export-compare",
    ),
]
