from __future__ import annotations

from django.urls import path

from . import views

app_name = "agreement"

project = "projects/<int:project_id>/"

urlpatterns = [
    path(f"{project}agreement/", views.agreement, name="agreement"),
    path(f"{project}agreement/run/", views.run, name="run"),
]
