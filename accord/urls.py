from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.api import MeView, TokenView
from projects.jobs_api import JobCancelView, JobDetailView

from . import health

api_v1 = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("me/", MeView.as_view(), name="me"),
    path("", include("projects.api_urls")),
    path("", include("items.api_urls")),
    path("", include("annotation.api_urls")),
    path("", include("review.api_urls")),
    path("", include("agreement.api_urls")),
    path("", include("exports.api_urls")),
    path("jobs/<int:job_id>/", JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", JobCancelView.as_view(), name="job-cancel"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI sets a few inline styles: allowed on this page only, which
    # shows our schema and no user content.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="api-docs",
    ),
    path("", include("projects.urls")),
    path("", include("items.urls")),
    path("", include("annotation.urls")),
    path("", include("review.urls")),
    path("", include("agreement.urls")),
    path("", include("exports.urls")),
]

handler400 = "accord.views.bad_request"
handler403 = "accord.views.permission_denied"
handler404 = "accord.views.page_not_found"
handler500 = "accord.views.server_error"
