from __future__ import annotations

from django.urls import path

from . import views

app_name = "datasets"

exports = "projects/<int:project_id>/exports/"

urlpatterns = [
    path(exports, views.exports_page, name="exports"),
    path(f"{exports}new/", views.export_new, name="export_new"),
    path(f"{exports}preview/", views.export_preview, name="export_preview"),
    path(f"{exports}compare/", views.export_compare, name="export_compare"),
    path(f"{exports}<int:export_id>/", views.export_card, name="export_card"),
]
