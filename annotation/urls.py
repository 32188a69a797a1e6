from __future__ import annotations

from django.urls import path

from . import lead_views, views

app_name = "annotation"

items = "projects/<int:project_id>/items/"
queue = "projects/<int:project_id>/queue/"

urlpatterns = [
    path(items, views.items, name="items"),
    path(f"{items}archive/", views.items_archive, name="items_archive"),
    path(f"{items}delete/", views.items_delete, name="items_delete"),
    path(f"{items}import/", views.item_import, name="item_import"),
    path(f"{items}imports/<int:job_id>/", views.job_detail, name="job"),
    path(f"{items}imports/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    # the lead's side of the queue
    path(f"{items}<int:item_id>/", lead_views.item_detail, name="item_detail"),
    path(queue, lead_views.queue_page, name="queue"),
    path(
        f"{queue}leases/<int:assignment_id>/release/",
        lead_views.lease_release,
        name="lease_release",
    ),
    path(f"{queue}items/<int:item_id>/override/", lead_views.item_override, name="item_override"),
]
