"""The lead's side of the queue, in the browser: the Queue tab (items by
state, active leases, items that can no longer reach their overlap, skips
per annotator) with its two writes, and an item's page with every
annotator's revisions.

They follow projects/views/: a view parses the request, checks access
through projects.access, calls one selector or service and renders; a page
answers an htmx request with its ``section`` partial; a write is POST-only,
refused on an archived project, and ends in POST/redirect/GET (htmx gets
the page's partial instead); a refusal re-renders the page with its status
and the reason as a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accord.errors import Conflict, InvalidInput
from accord.pages import render_page
from annotation import hooks, lead_selectors
from annotation.queue import release as queue_release
from annotation.queue import submit as queue_submit
from items.models import ItemState
from projects import access
from projects.models import Project
from projects.pages import project_context, read_only_when_archived


def _queue_page(
    request: HttpRequest, project: Project, *, focus: str = "", status: int = 200
) -> HttpResponse:
    context = project_context(request, project, "queue")
    # ``focus`` names the table a write just changed: its heading takes the
    # keyboard focus after an htmx swap, since the button pressed is gone.
    context.update(overview=lead_selectors.queue_overview(project), focus=focus, now=timezone.now())
    return render_page(request, "annotation/queue.html", context, status=status)


def _queue_done(request: HttpRequest, project: Project, text: str, *, focus: str) -> HttpResponse:
    messages.success(request, text)
    url = reverse("annotation:queue", args=[project.pk])
    if request.htmx:
        response = _queue_page(request, project, focus=focus)
        response["HX-Replace-Url"] = url
        return response
    return redirect(url)


def _queue_refused(
    request: HttpRequest, project: Project, text: str, *, focus: str, status: int
) -> HttpResponse:
    messages.error(request, text)
    return _queue_page(request, project, focus=focus, status=status)


@login_required
@require_GET
def queue_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.VIEW_STATS, write=False)
    return _queue_page(request, project)


@login_required
@require_POST
@read_only_when_archived
def lease_release(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE)
    lease = lead_selectors.lease_brief(project, assignment_id)
    who = f"{lease['username']}’s lease on item {lease['item']}"
    if not queue_release.lease_release(project=project, assignment_id=assignment_id):
        text = (
            f"Nothing was released: {who} had already ended "
            "(submitted, skipped, expired or released)."
        )
        return _queue_refused(request, project, text, focus="leases", status=409)
    text = f"Released {who}: the item is back in the queue."
    return _queue_done(request, project, text, focus="leases")


@login_required
@require_POST
@read_only_when_archived
def item_override(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE)
    action = request.POST.get("action", "")
    try:
        item = queue_submit.item_override(project=project, item_id=item_id, action=action)
    except InvalidInput:
        text = "Nothing was changed: choose “Compare with what it has” or “Exclude”."
        return _queue_refused(request, project, text, focus="unfinishable", status=400)
    except Conflict as exc:
        text = f"Item {item_id} was not changed: {exc.detail}"
        return _queue_refused(request, project, text, focus="unfinishable", status=409)
    if item.state == ItemState.EXCLUDED:
        text = f"Item {item.pk} is excluded: it leaves the queue and will not become gold."
    else:
        n = item.overlap
        text = (
            f"Item {item.pk} was compared with the {n} annotation{'s' if n != 1 else ''} "
            f"it has: {item.outcome}, now “{ItemState(item.state).label}”."
        )
    return _queue_done(request, project, text, focus="unfinishable")


@login_required
@require_GET
def item_detail(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.VIEW_STATS, write=False)
    context = project_context(request, project, "items")
    history = lead_selectors.item_history(project, item_id)
    gold = hooks.item_gold(item_id=history.item.pk)
    context.update(history=history, gold=gold, page_title=f"Item {history.item.pk}")
    return render_page(request, "annotation/item.html", context)
