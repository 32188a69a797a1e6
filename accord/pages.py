"""Page helpers every app's HTML views share: render a page (or, for htmx,
its ``section`` partial), render one named partial with the messages out of
band, and answer a signed-out script with 401 instead of the login page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The whole page, or for an htmx request only its ``section`` partial
    (a history restore needs the whole page)."""
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    project = context.get("project")
    # Times on a project's pages read in the project's time zone.
    with timezone.override(project.time_zone if project else None):
        response = render(
            request, f"{template}#section" if partial else template, context, status=status
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


def render_partial(
    request: HttpRequest, template: str, partial: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """An htmx action's answer: one named partial of ``template``, with the
    messages out of band, times in the project's time zone."""
    context["oob_messages"] = True
    project = context.get("project")
    with timezone.override(project.time_zone if project else None):
        response = render(request, f"{template}#{partial}", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _wants_status(request: HttpRequest) -> bool:
    """A request made by the page's script (htmx, or fetch for drafts), which
    handles a 401 itself; a browser navigating gets the login page."""
    return bool(request.htmx) or request.headers.get("X-Requested-With") == "fetch"


def login_or_401(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if _wants_status(request):
            response = HttpResponse(
                "Your session has ended: sign in again to go on.",
                status=401,
                content_type="text/plain; charset=utf-8",
            )
            # Not Basic: the browser must not pop up its own password prompt.
            response["WWW-Authenticate"] = 'Session realm="Accord"'
            return response
        return redirect_to_login(request.get_full_path())

    return wrapper
