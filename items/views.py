"""Server-rendered item pages (htmx): the list with its filters, archive and
delete, the upload form, and an import job's live progress.

They follow projects/views/: a view parses the request, checks access
through projects.access, calls one function and renders; a page answers an
htmx request with its ``section`` partial; a write is POST-only and ends in
POST/redirect/GET (htmx gets the page's partial instead); bad input answers
400 with the errors beside their fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Left
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accord.errors import Conflict, InvalidInput
from accord.pages import render_page
from projects import access
from projects import selectors as project_selectors
from projects.jobs import job_cancel as job_cancel_request
from projects.models import Job, Project
from projects.pages import project_context, read_only_when_archived

from . import forms, importer, selectors, services
from .models import Item, ItemState

PAGE_SIZE = 50
RECENT_IMPORTS = 5
TEXT_SHOWN = 240  # characters of an item's text in the list
META_SHOWN = 3  # metadata fields summarised per row
LINES_SHOWN = 100  # bad or conflicting lines listed in a job's outcome
MAX_SELECTED = 10_000


# --- plumbing -----------------------------------------------------------------


def _lead_project(request: HttpRequest, project_id: int, *, write: bool) -> Project:
    """Items are for those who may import them (leads); other members get 403."""
    return access.access_project_or_403(request.user, project_id, access.IMPORT_ITEMS, write=write)


def _import_job(request: HttpRequest, project: Project, job_id: int) -> Job:
    """An import job of this project that the caller may see (access_job:
    its initiator or a lead), else 404 — a job id from another project
    answers like a missing one."""
    job = access.access_job(request.user, job_id)
    if job.project_id != project.pk or job.kind != importer.KIND:
        raise Http404
    return job


def _with_query(url_name: str, project: Project, query: QueryDict) -> str:
    url = reverse(url_name, args=[project.pk])
    return f"{url}?{query.urlencode()}" if query else url


def _error_texts(errors: list[dict[str, Any]]) -> list[str]:
    """Selector and service errors as sentences that keep the field name."""
    out = []
    for error in errors:
        field, reason = error.get("field"), str(error["reason"]).rstrip(".")
        if not field or field == "ids":
            out.append(f"{reason[:1].upper()}{reason[1:]}.")
        elif reason.startswith(("is ", "must ", "has ", "are ")):
            out.append(f"“{field}” {reason}.")
        else:
            out.append(f"“{field}”: {reason}.")
    return out


# --- the list -----------------------------------------------------------------


@dataclass(frozen=True)
class ListedItem:
    item: Item
    text: str
    meta: list[tuple[str, str]]
    more_meta: int

    @property
    def state_label(self) -> str:
        return ItemState(self.item.state).label


def _meta_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _listed(item: Item) -> ListedItem:
    head = item.text_head if isinstance(item.text_head, str) else ""
    meta = item.meta if isinstance(item.meta, dict) else {}
    shown = [
        (Truncator(key).chars(40), Truncator(_meta_text(value)).chars(60))
        for key, value in list(meta.items())[:META_SHOWN]
    ]
    return ListedItem(
        item=item,
        text=Truncator(head).chars(TEXT_SHOWN),
        meta=shown,
        more_meta=max(0, len(meta) - META_SHOWN),
    )


def _page_of(items: QuerySet[Item], after: int | None) -> tuple[list[ListedItem], int | None]:
    """One page by id (an immutable key), and the id to continue after."""
    if after is not None:
        items = items.filter(pk__gt=after)
    # Only the head of the text is read: an item may hold a megabyte.
    rows = list(
        items.annotate(text_head=Left(KeyTextTransform("text", "data"), TEXT_SHOWN + 1))
        .defer("data")
        .order_by("pk")[: PAGE_SIZE + 1]
    )
    next_after = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    return [_listed(item) for item in rows[:PAGE_SIZE]], next_after


def _next_query(filters: str, next_after: int | None) -> str:
    """The next page's query string: the same filters, a later cursor."""
    if next_after is None:
        return ""
    return f"{filters}&after={next_after}" if filters else f"after={next_after}"


def _after(raw: str) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    raise InvalidInput("must be an item id", field="after")


def _recent_imports(project: Project) -> list[Job]:
    return list(
        Job.objects.filter(project=project, kind=importer.KIND)
        .select_related("created_by")
        .order_by("-created_at", "-pk")[:RECENT_IMPORTS]
    )


def _state_links(query: QueryDict, counts: dict[str, int]) -> list[dict[str, Any]]:
    """The counts by state, each a link to the list in that state (keeping
    the search)."""
    keep = {k: query[k] for k in ("q", "external_id") if query.get(k)}
    current = query.get("state", "")
    links = [
        {
            "state": "",
            "label": "Not archived",
            "count": counts["total"] - counts[ItemState.ARCHIVED],
        }
    ]
    links += [
        {"state": state.value, "label": state.label, "count": counts[state.value]}
        for state in ItemState
    ]
    for link in links:
        link["query"] = urlencode({**keep, **({"state": link["state"]} if link["state"] else {})})
        link["current"] = link["state"] == current
    return links


def _items_page(
    request: HttpRequest, project: Project, query: QueryDict, *, status: int = 200
) -> HttpResponse:
    context = project_context(request, project, "items")
    form = forms.ItemFilterForm(query)
    form.is_valid()
    rows: list[ListedItem] = []
    next_after = None
    try:
        after = _after(query.get("after", ""))
        items = selectors.items_filter(project, form.selector_params())
        rows, next_after = _page_of(items, after)
    except InvalidInput as exc:
        for text in _error_texts(form.take_errors(exc.errors)):
            form.add_error(None, text)
        messages.error(request, "No items are listed: correct the filter.")
        status = 400
    filters = urlencode([(k, v) for k, v in query.items() if k != "after" and v])
    context.update(
        filter_form=form,
        filters=filters,
        rows=rows,
        after=query.get("after", ""),
        next_query=_next_query(filters, next_after),
        state_links=_state_links(query, project_selectors.project_item_counts(project)),
        # Archive and delete answer with the list as it was filtered.
        archive_action=_with_query("items:items_archive", project, query),
        delete_action=_with_query("items:items_delete", project, query),
        imports=[{"job": job, "outcome": _job_outcome(job)} for job in _recent_imports(project)],
    )
    return render_page(request, "annotation/items.html", context, status=status)


@login_required
@require_GET
def items(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _lead_project(request, project_id, write=False)
    return _items_page(request, project, request.GET)


def _selected_ids(data: QueryDict) -> list[int]:
    raw = data.getlist("ids")
    if not raw:
        raise InvalidInput("select at least one item", field="ids")
    if len(raw) > MAX_SELECTED or not all(v.isascii() and v.isdigit() and len(v) < 19 for v in raw):
        raise InvalidInput("the selection is not a list of item ids", field="ids")
    return sorted({int(v) for v in raw})


def _items_done(request: HttpRequest, project: Project, text: str) -> HttpResponse:
    """After archive or delete: back to the list as it was filtered (the
    form posts to a URL that carries the list's query string)."""
    messages.success(request, text)
    url = _with_query("items:items", project, request.GET)
    if request.htmx:
        response = _items_page(request, project, request.GET)
        response["HX-Replace-Url"] = url
        return response
    return redirect(url)


def _items_refused(
    request: HttpRequest, project: Project, text: str, *, status: int
) -> HttpResponse:
    messages.error(request, text)
    return _items_page(request, project, request.GET, status=status)


@login_required
@require_POST
@read_only_when_archived
def items_archive(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _lead_project(request, project_id, write=True)
    try:
        n = services.items_archive(project=project, ids=_selected_ids(request.POST))
    except InvalidInput as exc:
        return _items_refused(request, project, " ".join(_error_texts(exc.errors)), status=400)
    text = f"{n} item{'s' if n != 1 else ''} archived." if n else "Nothing to archive."
    return _items_done(request, project, text)


@login_required
@require_POST
@read_only_when_archived
def items_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _lead_project(request, project_id, write=True)
    try:
        n = services.items_delete(project=project, ids=_selected_ids(request.POST))
    except InvalidInput as exc:
        return _items_refused(request, project, " ".join(_error_texts(exc.errors)), status=400)
    except Conflict as exc:
        ids = ", ".join(str(i) for i in exc.extra.get("items", []))
        text = f"Nothing was deleted. {exc.detail}" + (f" (Items {ids}.)" if ids else "")
        return _items_refused(request, project, text, status=409)
    return _items_done(request, project, f"{n} item{'s' if n != 1 else ''} deleted.")


# --- import -------------------------------------------------------------------


def _import_page(
    request: HttpRequest,
    project: Project,
    *,
    form: forms.ImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = project_context(request, project, "items")
    context.update(form=form or forms.ImportForm(), limit=forms.upload_limit_text())
    return render_page(request, "annotation/import.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@read_only_when_archived
def item_import(request: HttpRequest, project_id: int) -> HttpResponse:
    if request.method == "GET":
        # An archived project shows the form disabled, with its banner.
        return _import_page(request, _lead_project(request, project_id, write=False))
    project = _lead_project(request, project_id, write=True)
    form = forms.ImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            options = importer.ImportOptions.parse(form.option_values(), filename=upload.name)
            job = importer.import_start(
                project=project,
                user=request.user,
                stream=upload,
                filename=upload.name,
                options=options,
            )
        except InvalidInput as exc:
            form.absorb_errors(exc.errors)
        else:
            messages.success(
                request, f"“{upload.name}” was uploaded; it is imported in the background."
            )
            url = reverse("items:job", args=[project.pk, job.pk])
            if request.htmx:
                response = _job_page(request, project, job)
                response["HX-Push-Url"] = url
                return response
            return redirect(url)
    messages.error(request, "Nothing was imported: correct the fields marked below.")
    return _import_page(request, project, form=form, status=400)


# --- an import job ------------------------------------------------------------


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    reason: str


def _job_outcome(job: Job) -> dict[str, Any]:
    """What the template shows of a job's result, each list cut short."""
    result = job.result if isinstance(job.result, dict) else {}
    bad: list[LineError] = []
    for entry in result.get("bad_lines") or []:
        for error in entry.get("errors") or [{}]:
            bad.append(
                LineError(entry.get("line", 0), error.get("field") or "", error.get("reason", ""))
            )
    conflicts = result.get("conflict_lines") or []
    return {
        "result": result,
        "bad_lines": bad[:LINES_SHOWN],
        "bad_more": max(0, len(bad) - LINES_SHOWN),
        "conflict_lines": conflicts[:LINES_SHOWN],
        "conflict_more": max(
            0, int(result.get("conflicts", 0) or 0) - min(len(conflicts), LINES_SHOWN)
        ),
    }


def _job_context(request: HttpRequest, project: Project, job: Job) -> dict[str, Any]:
    context = project_context(request, project, "items")
    context.update(job=job, outcome=_job_outcome(job), page_title=f"Import {job.pk}")
    return context


def _job_page(
    request: HttpRequest, project: Project, job: Job, *, status: int = 200
) -> HttpResponse:
    return render_page(
        request, "annotation/job.html", _job_context(request, project, job), status=status
    )


def _job_partial(
    request: HttpRequest, project: Project, job: Job, *, status: int = 200
) -> HttpResponse:
    """Only the job's card, for its own polling and its Cancel button; with
    the messages for the live region, out of band."""
    context = _job_context(request, project, job)
    context["oob_messages"] = True
    with timezone.override(project.time_zone):
        response = render(request, "annotation/_job.html", context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _asks_for_card(request: HttpRequest, job: Job) -> bool:
    """An htmx request aimed at the job's card (its polling, its Cancel
    button); a tab or link aims at the whole section instead."""
    return bool(request.htmx) and request.htmx.target == f"job-{job.pk}"


def _finished_text(job: Job) -> str:
    name = job.params.get("filename") or "the file"
    if job.status == "succeeded":
        created = job.result.get("created", 0)
        return f"The import of “{name}” succeeded: {created} item{'s' if created != 1 else ''} created."
    if job.status == "cancelled":
        return f"The import of “{name}” was cancelled; nothing was imported."
    return f"The import of “{name}” failed: {Truncator(job.error).chars(300)}"


@login_required
@require_GET
def job_detail(request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
    project = _lead_project(request, project_id, write=False)
    job = _import_job(request, project, job_id)
    if not _asks_for_card(request, job):
        response = _job_page(request, project, job)
        patch_vary_headers(response, ["HX-Target"])
        return response
    if job.is_finished and request.htmx.trigger == f"job-{job.pk}":
        # The poll that sees the job finish: say so in the live region,
        # which screen readers announce (the card itself is replaced).
        level = messages.SUCCESS if job.status == "succeeded" else messages.ERROR
        messages.add_message(request, level, _finished_text(job))
    return _job_partial(request, project, job)


@login_required
@require_POST
def job_cancel(request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
    # Stopping an import writes nothing to the project, so it is allowed
    # on an archived one too.
    project = _lead_project(request, project_id, write=False)
    job = _import_job(request, project, job_id)
    status = 200
    try:
        job = job_cancel_request(job=job)
    except Conflict as exc:
        messages.error(request, f"Nothing to cancel: {exc.detail[:1].lower()}{exc.detail[1:]}")
        status = 409
    else:
        text = (
            "The import was cancelled."
            if job.status == "cancelled"
            else "The import stops at its next progress report."
        )
        messages.success(request, text)
    if _asks_for_card(request, job):
        return _job_partial(request, project, job, status=status)
    if status == 409:
        return _job_page(request, project, job, status=409)
    return redirect("items:job", project_id=project.pk, job_id=job.pk)
