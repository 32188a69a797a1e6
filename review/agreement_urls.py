from __future__ import annotations

from django.urls import path

from . import agreement_page

app_name = "agreement"

project = "projects/<int:project_id>/"

urlpatterns = [
    path(f"{project}agreement/", agreement_page.agreement, name="agreement"),
    path(f"{project}agreement/run/", agreement_page.run, name="run"),
]
