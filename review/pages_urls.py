from __future__ import annotations

from django.urls import path

from . import pages

app_name = "review_pages"

project = "projects/<int:project_id>/"

urlpatterns = [
    path(f"{project}feedback/", pages.feedback, name="feedback"),
    path(f"{project}gold/", pages.gold, name="gold"),
    path(f"{project}gold/<int:gold_id>/", pages.gold_detail, name="gold_detail"),
    path(f"{project}gold/<int:gold_id>/adjudicate/", pages.gold_adjudicate, name="gold_adjudicate"),
    path(f"{project}gold/<int:gold_id>/promote/", pages.gold_promote, name="gold_promote"),
    path(
        f"{project}reviews/<int:review_id>/release/",
        pages.review_lease_release,
        name="review_lease_release",
    ),
]
