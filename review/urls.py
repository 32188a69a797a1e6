from __future__ import annotations

from django.urls import path

from . import views

app_name = "review"

review = "projects/<int:project_id>/review/"

urlpatterns = [
    path(review, views.review, name="review"),
]
