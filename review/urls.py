from __future__ import annotations

from django.urls import path

from . import pages, views

app_name = "review"

review = "projects/<int:project_id>/review/"
project = "projects/<int:project_id>/"

urlpatterns = [
    path(review, views.review, name="review"),
    path(f"{review}next/", views.review_next, name="review_next"),
    path(f"{review}<int:review_id>/blind/", views.review_blind, name="review_blind"),
    path(f"{review}<int:review_id>/resolve/", views.review_resolve, name="review_resolve"),
    path(f"{review}<int:review_id>/release/", views.review_release, name="review_release"),
    # around review: feedback, the Gold tab, gold records
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
