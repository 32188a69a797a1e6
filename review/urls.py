from __future__ import annotations

from django.urls import path

from .views import gold, workspace

app_name = "review"

review = "projects/<int:project_id>/review/"
project = "projects/<int:project_id>/"

urlpatterns = [
    path(review, workspace.review, name="review"),
    path(f"{review}next/", workspace.review_next, name="review_next"),
    path(f"{review}<int:review_id>/blind/", workspace.review_blind, name="review_blind"),
    path(f"{review}<int:review_id>/resolve/", workspace.review_resolve, name="review_resolve"),
    path(f"{review}<int:review_id>/release/", workspace.review_release, name="review_release"),
    # around review: feedback, the Gold tab, gold records
    path(f"{project}feedback/", gold.feedback, name="feedback"),
    path(f"{project}gold/", gold.gold, name="gold"),
    path(f"{project}gold/<int:gold_id>/", gold.gold_detail, name="gold_detail"),
    path(f"{project}gold/<int:gold_id>/adjudicate/", gold.gold_adjudicate, name="gold_adjudicate"),
    path(f"{project}gold/<int:gold_id>/promote/", gold.gold_promote, name="gold_promote"),
    path(
        f"{project}reviews/<int:review_id>/release/",
        gold.review_lease_release,
        name="review_lease_release",
    ),
]
