from __future__ import annotations

from django.urls import path

from .views import history, workspace
from .views import queue as queue_views

app_name = "annotation"

items = "projects/<int:project_id>/items/"
annotate = "projects/<int:project_id>/annotate/"
queue = "projects/<int:project_id>/queue/"

urlpatterns = [
    # the lead's side of the queue
    path(f"{items}<int:item_id>/", queue_views.item_detail, name="item_detail"),
    path(queue, queue_views.queue_page, name="queue"),
    path(
        f"{queue}leases/<int:assignment_id>/release/",
        queue_views.lease_release,
        name="lease_release",
    ),
    path(f"{queue}items/<int:item_id>/override/", queue_views.item_override, name="item_override"),
    # the annotator's workspace and history
    path(annotate, workspace.annotate, name="annotate"),
    path(f"{annotate}next/", workspace.annotate_next, name="annotate_next"),
    path(
        f"{annotate}<int:assignment_id>/submit/", workspace.annotate_submit, name="annotate_submit"
    ),
    path(f"{annotate}<int:assignment_id>/skip/", workspace.annotate_skip, name="annotate_skip"),
    path(f"{annotate}<int:assignment_id>/later/", workspace.annotate_later, name="annotate_later"),
    path(f"{annotate}<int:assignment_id>/unskip/", history.annotate_unskip, name="annotate_unskip"),
    path(f"{annotate}<int:assignment_id>/draft/", workspace.annotate_draft, name="annotate_draft"),
    path(f"{annotate}undo/<int:annotation_id>/", workspace.annotate_undo, name="annotate_undo"),
    path(f"{annotate}history/", history.annotate_history, name="annotate_history"),
    path(
        f"{annotate}history/<int:annotation_id>/edit/",
        history.annotate_edit,
        name="annotate_edit",
    ),
]
