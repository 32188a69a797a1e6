from __future__ import annotations

from django.urls import path

from . import views

app_name = "items"
items = "projects/<int:project_id>/items/"

urlpatterns = [
    path(items, views.items, name="items"),
    path(f"{items}archive/", views.items_archive, name="items_archive"),
    path(f"{items}delete/", views.items_delete, name="items_delete"),
    path(f"{items}import/", views.item_import, name="item_import"),
    path(f"{items}imports/<int:job_id>/", views.job_detail, name="job"),
    path(f"{items}imports/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
]
