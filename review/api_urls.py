from django.urls import path

from . import api

urlpatterns = [
    path(
        "projects/<int:project_id>/review/claim/",
        api.ReviewClaimView.as_view(),
        name="review-claim",
    ),
    path(
        "projects/<int:project_id>/review/stats/",
        api.ReviewStatsView.as_view(),
        name="review-stats",
    ),
    path(
        "projects/<int:project_id>/reviews/<int:review_id>/release/",
        api.ReviewLeaseReleaseView.as_view(),
        name="review-lease-release",
    ),
    path("projects/<int:project_id>/gold/", api.GoldListView.as_view(), name="gold-list"),
    path(
        "projects/<int:project_id>/feedback/", api.FeedbackListView.as_view(), name="feedback-list"
    ),
    path(
        "projects/<int:project_id>/feedback/seen/",
        api.FeedbackSeenView.as_view(),
        name="feedback-seen",
    ),
    path("reviews/<int:review_id>/", api.ReviewDetailView.as_view(), name="review-detail"),
    path("reviews/<int:review_id>/blind/", api.ReviewBlindView.as_view(), name="review-blind"),
    path(
        "reviews/<int:review_id>/resolve/", api.ReviewResolveView.as_view(), name="review-resolve"
    ),
    path(
        "reviews/<int:review_id>/release/", api.ReviewReleaseView.as_view(), name="review-release"
    ),
    path(
        "reviews/<int:review_id>/precedents/",
        api.ReviewPrecedentsView.as_view(),
        name="review-precedents",
    ),
    path("gold/<int:gold_id>/", api.GoldDetailView.as_view(), name="gold-detail"),
    path("gold/<int:gold_id>/history/", api.GoldHistoryView.as_view(), name="gold-history"),
    path(
        "gold/<int:gold_id>/adjudicate/", api.GoldAdjudicateView.as_view(), name="gold-adjudicate"
    ),
    path("gold/<int:gold_id>/promote/", api.GoldPromoteView.as_view(), name="gold-promote"),
]
