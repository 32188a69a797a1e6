"""Pages around review (the reviewer's workspace is review/views/workspace.py): an
annotator's feedback, the Gold tab (review progress, reviewer throughput,
who is overruled and why, review leases, and every gold record, filtered
and paged) and a gold
record's page with its history, a new adjudication and promotion into the
guidelines.

As in annotation/views/queue.py: a view checks access through
projects.access, calls one selector or service and renders; writes are
POST-only and end in POST/redirect/GET; a refusal re-renders with its
status and reason.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import tasktypes
from accord.errors import Conflict, InvalidInput
from accord.pages import render_page, render_partial
from items.labels import item_label
from projects import access
from projects.pages import project_context, read_only_when_archived
from projects.selectors import config_version
from review import gold as gold_service
from review import gold_list, lead_selectors, leases, selectors, worked_examples
from review.models import GoldRecord, GoldSource

# --- feedback (annotators) ----------------------------------------------------------


@login_required
@require_GET
def feedback(request: HttpRequest, project_id: int) -> HttpResponse:
    """The caller's overruled annotations with the gold value and the
    reason. Viewing the page marks them seen (the page shows which were
    new)."""
    project = access.access_project(request.user, project_id, access.ANNOTATE)
    rows = selectors.feedback_for(project, request.user)
    if not project.is_archived:
        gold_service.feedback_mark_seen(project=project, user=request.user)
    context = project_context(request, project, "feedback")
    context.update(rows=rows, new=sum(1 for r in rows if not r.seen))
    return render_page(request, "review/feedback.html", context)


# --- the Gold tab (leads and reviewers) ---------------------------------------------


def _gold_project(request: HttpRequest, project_id: int):
    return access.access_gold_project(request.user, project_id)


def _before(raw: str) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    raise InvalidInput("must be a gold record id", field="before")


def _gold_list(request: HttpRequest, project) -> tuple[dict, int]:
    """The gold list's part of the context, from the query string (the
    filters live in the URL, so every view of the list is a link), and its
    status: 400 when a filter is refused."""
    query = request.GET
    rows: list[dict] = []
    more = None
    errors: list[dict] = []
    try:
        filters = gold_list.gold_filters_parse(project, query)
        rows, more = gold_list.gold_page(project, filters, before=_before(query.get("before", "")))
    except InvalidInput as exc:
        errors = exc.errors
    kept = [(k, v) for k in gold_list.GOLD_FILTER_KEYS for v in query.getlist(k) if v]
    filters_query = urlencode(kept)
    row = config_version(project.pk, project.config_version)
    context = {
        "rows": rows,
        "filters_query": filters_query,
        "next_query": urlencode([*kept, ("before", more)]) if more else "",
        "paged": bool(query.get("before")),
        "filter_errors": [
            f"{e['field']}: {e['reason']}" if e.get("field") else e["reason"] for e in errors
        ],
        "chosen": {k: query.getlist(k) for k in gold_list.GOLD_FILTER_KEYS},
        "label_choices": [
            (label["key"], label.get("name") or label["key"])
            for label in row.config.get("labels", [])
            if isinstance(label, dict) and "key" in label
        ],
        "source_choices": GoldSource.choices,
        "reviewer_choices": gold_list.gold_reviewer_choices(project),
    }
    return context, 400 if errors else 200


def _gold_page(request: HttpRequest, project, held, *, status: int = 200) -> HttpResponse:
    listing, list_status = _gold_list(request, project)
    status = max(status, list_status)
    if (
        request.htmx
        and not request.htmx.history_restore_request
        and request.htmx.target == "gold-list"
    ):
        # Filtering and paging swap only the list; the figures above stay.
        context = project_context(request, project, "gold")
        context.update(listing)
        return render_partial(request, "review/gold.html", "gold_list", context, status=status)
    context = project_context(request, project, "gold")
    lead = access.VIEW_STATS in held
    progress = lead_selectors.review_progress(project)
    context.update(
        progress=progress,
        sources=[(s.label, progress["gold_by_source"][s.value]) for s in GoldSource],
        reviewers=lead_selectors.reviewer_throughput(project) if lead else [],
        overruled=lead_selectors.overruled_by_annotator(project) if lead else [],
        active=lead_selectors.active_reviews(project) if lead else [],
        lead=lead,
        **listing,
    )
    return render_page(request, "review/gold.html", context, status=status)


@login_required
@require_GET
def gold(request: HttpRequest, project_id: int) -> HttpResponse:
    project, held = _gold_project(request, project_id)
    return _gold_page(request, project, held)


@login_required
@require_POST
@read_only_when_archived
def review_lease_release(request: HttpRequest, project_id: int, review_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.VIEW_STATS, write=True)
    held = access.user_permissions(request.user, project)
    try:
        released = leases.review_lease_release(project=project, review_id=review_id)
    except InvalidInput as exc:
        messages.error(request, str(exc))
        return _gold_page(request, project, held, status=400)
    if released:
        messages.success(request, "Review lease released: the item is back in the review queue.")
    else:
        messages.info(request, "That review had already ended.")
    url = reverse("review:gold", args=[project.pk])
    if request.htmx:
        response = _gold_page(request, project, held)
        response["HX-Replace-Url"] = url
        return response
    return redirect(url)


# --- one gold record ----------------------------------------------------------------------


def _record(request: HttpRequest, project_id: int, gold_id: int) -> GoldRecord:
    record = access.access_gold(request.user, gold_id)
    if record.project_id != project_id:
        raise Http404
    return record


def _detail_page(
    request: HttpRequest,
    record: GoldRecord,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    form: dict | None = None,
) -> HttpResponse:
    project = record.project
    row = config_version(project.pk, project.config_version)
    task_type = tasktypes.get(row.task_type)
    history = []
    for rev in record.revisions.select_related("reviewer").order_by("-number"):
        rev_config = config_version(project.pk, rev.config_version).config
        history.append(
            {
                "rev": rev,
                "display": "Excluded"
                if rev.excluded
                else task_type.display_value(rev.value, rev_config),
            }
        )
    held = access.user_permissions(request.user, project)
    context = project_context(request, project, "gold")
    context.update(
        record=record,
        item=record.item,
        item_label=item_label(record.item, task_type_key=task_type.key),
        text=task_type.item_text(record.item.data),
        history=history,
        labels=row.config.get("labels", []),
        multi_label=bool(row.config.get("multi_label")),
        precedents=selectors.precedents(record),
        may_adjudicate=access.REVIEW in held and not project.is_archived,
        may_promote=access.EDIT_GUIDELINES in held
        and record.source != GoldSource.CONSENSUS
        and not project.is_archived,
        errors=errors or [],
        form=form or {},
    )
    return render_page(request, "review/gold_detail.html", context, status=status)


@login_required
@require_GET
def gold_detail(request: HttpRequest, project_id: int, gold_id: int) -> HttpResponse:
    return _detail_page(request, _record(request, project_id, gold_id))


def _decision_from_form(request: HttpRequest, task_type, config: dict) -> dict:
    post = request.POST
    decision = {"reason": post.get("reason", ""), "reason_code": post.get("reason_code", "")}
    if post.get("exclude"):
        decision["exclude"] = True
    else:
        decision["value"] = task_type.form_value(post, config)
    return decision


@login_required
@require_POST
@read_only_when_archived
def gold_adjudicate(request: HttpRequest, project_id: int, gold_id: int) -> HttpResponse:
    record = _record(request, project_id, gold_id)
    access.access_gold(request.user, gold_id, write=True)
    project = record.project
    row = config_version(project.pk, project.config_version)
    decision = _decision_from_form(request, tasktypes.get(row.task_type), row.config)
    try:
        gold_service.gold_adjudicate(
            gold=record, user=request.user, revision=request.POST.get("revision"), **decision
        )
    except InvalidInput as exc:
        return _detail_page(
            request, record, status=400, errors=[str(exc)], form=request.POST.dict()
        )
    except Conflict as exc:
        record.refresh_from_db()
        return _detail_page(request, record, status=409, errors=[exc.detail])
    except PermissionDenied as exc:
        return _detail_page(
            request, record, status=403, errors=[str(exc) or "You may not adjudicate this item."]
        )
    messages.success(request, "Gold changed; the earlier decision stays in the history.")
    return redirect("review:gold_detail", project_id=project.pk, gold_id=record.pk)


@login_required
@require_POST
@read_only_when_archived
def gold_promote(request: HttpRequest, project_id: int, gold_id: int) -> HttpResponse:
    record = _record(request, project_id, gold_id)
    access.access_project_or_403(request.user, project_id, access.EDIT_GUIDELINES, write=True)
    try:
        worked_examples.gold_promote(gold=record, user=request.user)
    except Conflict as exc:
        return _detail_page(request, record, status=409, errors=[exc.detail])
    messages.success(
        request, "Added to the guidelines' draft as a worked example: edit and publish it there."
    )
    return redirect("review:gold_detail", project_id=project_id, gold_id=record.pk)
