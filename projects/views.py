from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import access, selectors


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "projects/list.html", {"summaries": selectors.project_list(request.user)}
    )


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id)
    return render(request, "projects/detail.html", {"project": project})
