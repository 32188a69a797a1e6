from __future__ import annotations

from django.urls import path

from . import views

app_name = "review"

review = "projects/<int:project_id>/review/"

urlpatterns = [
    path(review, views.review, name="review"),
    path(f"{review}next/", views.review_next, name="review_next"),
    path(f"{review}<int:review_id>/blind/", views.review_blind, name="review_blind"),
    path(f"{review}<int:review_id>/resolve/", views.review_resolve, name="review_resolve"),
    path(f"{review}<int:review_id>/release/", views.review_release, name="review_release"),
]
