"""The reviewer's workspace (htmx, keyboard-first)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from projects import access


@login_required
@require_GET
def review(request: HttpRequest, project_id: int) -> HttpResponse:
    access.access_project(request.user, project_id, access.REVIEW, write=False)
    return HttpResponse("")
