"""The annotator's workspace (htmx, keyboard-first) and their history.

Thin views over annotation/queue.py, as in projects/views.py: each parses
the form, checks access through projects.access, calls one service and
renders. Every write is POST and answers htmx with the ``workspace``
partial (the next item, or a state: nothing left, all leased), anyone else
with a redirect to the page (POST/redirect/GET).

What keeps a stale form harmless: every action posts to the URL of its own
assignment, so a double or held Enter, or a form resent after the network
came back, can only ever act on the assignment it was rendered for; the
submit service answers the same value again with the same annotation, and
the view then shows the annotator's current lease (a claim resumes it).

A write made by the page's script (htmx, or fetch for drafts) without a
session answers 401 instead of the login redirect, so static/js/workspace.js
can open its sign-in dialog and send the kept form again (SECURITY.md E4); a
plain browser post, and any GET of a page, still go to the login page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Left
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST

import tasktypes
from accord.errors import Conflict, InvalidInput
from accord.pages import login_or_401, render_page, render_partial
from accord.ratelimit import RateLimited
from items.labels import item_label
from items.models import ItemState
from projects import access
from projects.fields import input_validate
from projects.markdown import render_markdown
from projects.models import ConfigVersion, Project
from projects.pages import project_context

from . import hooks, queue_selectors
from .models import Annotation, Assignment, AssignmentState
from .queue.claim import assignment_next
from .queue.release import assignment_draft, assignment_later, assignment_skip, assignment_unskip
from .queue.revisions import annotation_edit, annotation_undo, last_submission
from .queue.submit import annotation_submit
from .queue_api import SkipInput

PAGE = "annotation/workspace.html"
HISTORY = "annotation/history.html"
HISTORY_PAGE_SIZE = 25
HISTORY_TEXT = 400  # characters of an item's text in the history
SKIPS_SHOWN = 20  # the latest skips, above the annotations
# How long the "all leased" state waits before it asks again when the
# service gives no hint.
DEFAULT_RETRY = 10
NOTHING_CHOSEN = "nothing is chosen yet: choose an answer, then submit"
ARCHIVED = "This project is archived, so it is read-only: there is nothing to annotate."
# An assignment that no answer can change any more. An ended lease is not
# among them: a late answer is still taken while the item has a free slot.
DONE = (AssignmentState.SUBMITTED, AssignmentState.SKIPPED)


# --- plumbing -----------------------------------------------------------------


def _project(request: HttpRequest, project_id: int) -> Project:
    """Annotators only; anyone else gets 404, like a project that does not
    exist (a lead or reviewer who does not annotate has no workspace)."""
    return access.access_project(request.user, project_id, access.ANNOTATE, write=False)


def _own_assignment(request: HttpRequest, project_id: int, assignment_id: int) -> Assignment:
    assignment = access.access_assignment(request.user, assignment_id, write=False)
    if assignment.project_id != project_id:
        raise Http404
    if assignment.project.is_archived:
        raise access.ProjectArchived
    return assignment


def _own_annotation(request: HttpRequest, project_id: int, annotation_id: int) -> Annotation:
    annotation = access.access_annotation(request.user, annotation_id, write=False)
    # access_annotation also lets a lead read; writing here is for its author.
    if annotation.project_id != project_id or annotation.annotator_id != request.user.pk:
        raise Http404
    if annotation.project.is_archived:
        raise access.ProjectArchived
    return annotation


def _chosen(value: Any) -> list[str]:
    """The keys a value picks, for checking boxes (a single key is a list of
    one, so the template never tests a substring)."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def _reasons(errors: list[dict[str, Any]]) -> list[str]:
    out = []
    for error in errors:
        reason = str(error.get("reason", "")).rstrip(".")
        out.append(f"{reason[:1].upper()}{reason[1:]}.")
    return out


def _active_ms(raw: str | None) -> int | None:
    """The client's count of active time; a value the service would refuse
    is dropped rather than costing the annotator their submit."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 10:
        value = int(raw)
        return value if value <= 7 * 86_400_000 else None
    return None


# --- what the workspace shows -------------------------------------------------


@dataclass
class Workspace:
    """``state``: "item" (an assignment on screen), "start" (no lease yet:
    the page claims one), "done" (nothing left), "leased" (all left is
    leased to others), "slow" (claims throttled), "unavailable" (claims
    cannot be counted: Redis is down), "archived"."""

    state: str
    assignment: Assignment | None = None
    value: Any = None
    errors: list[str] = field(default_factory=list)
    skip_reason: str = ""
    skip_errors: list[str] = field(default_factory=list)
    retry_after: int | None = None
    notice: str = ""
    status: int = 200


def _next(project: Project, user) -> Workspace:
    """The annotator's lease after an action: the current one resumed, or a
    new one, or why there is none. After a submit, skip or later, that
    action is done and the page must say so whatever the claim answers
    (throttled, or Redis down: the next item comes when the page asks
    again)."""
    found = assignment_next(project=project, user=user)
    if found.assignment is not None:
        return Workspace("item", found.assignment, value=found.assignment.draft)
    if found.reason == "nothing-left":
        return Workspace("done")
    state = {"all-leased": "leased", "rate-limited": "slow"}.get(found.reason, "unavailable")
    return Workspace(state, retry_after=found.retry_after or DEFAULT_RETRY)


def _guidelines(project: Project, assignment: Assignment, user) -> dict[str, Any]:
    found = queue_selectors.assignment_guidelines(project, assignment, user)
    shown = found["guideline"]
    return {**found, "guideline_html": render_markdown(shown.body) if shown else ""}


def _last_submission(project: Project, user) -> dict[str, Any] | None:
    last = last_submission(project=project, user=user)
    if last is None:
        return None
    config = queue_selectors.config_version(project.pk, last.config_version)
    shown = tasktypes.get(config.task_type).display_value(last.value, config.config)
    label = item_label(last.item, task_type_key=config.task_type)
    return {"annotation": last, "display": shown, "label": label}


def _context(request: HttpRequest, project: Project, ws: Workspace) -> dict[str, Any]:
    user = request.user
    context = project_context(request, project, "annotate")
    context.update(
        ws=ws,
        state=ws.state,
        progress=queue_selectors.annotator_progress(project, user),
        unseen_feedback=hooks.unseen_feedback(project=project, user=user),
        last=None if project.is_archived else _last_submission(project, user),
    )
    if ws.assignment is not None and ws.state == "item":
        assignment = ws.assignment
        config = queue_selectors.config_version(project.pk, assignment.config_version)
        task_type = tasktypes.get(config.task_type)
        context.update(
            assignment=assignment,
            item=assignment.item,
            task_template=task_type.workspace_template,
            config=config.config,
            chosen=_chosen(ws.value),
            value=ws.value,
            errors=ws.errors,
            **_guidelines(project, assignment, user),
        )
    return context


def _show(
    request: HttpRequest, project: Project, ws: Workspace, *, page: bool = False
) -> HttpResponse:
    """The page (or its section, for an htmx tab), or after an action the
    ``workspace`` partial with the messages out of band. A plain browser
    post that led to an item is redirected to the page, so a reload does
    not post again."""
    if not page and not request.htmx and ws.state == "item" and ws.status < 400:
        return redirect("annotation:annotate", project_id=project.pk)
    context = _context(request, project, ws)
    if page or not request.htmx:
        response = render_page(request, PAGE, context, status=ws.status)
    else:
        response = render_partial(request, PAGE, "workspace", context, status=ws.status)
    if ws.retry_after:
        response["Retry-After"] = str(ws.retry_after)
    return response


def _archived(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A write on an archived project answers 409 with the read-only state."""

    @wraps(view)
    def wrapper(request: HttpRequest, project_id: int, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, project_id, **kwargs)
        except access.ProjectArchived:
            project = _project(request, project_id)
            return _show(request, project, Workspace("archived", notice=ARCHIVED, status=409))

    return wrapper


def _conflict(project: Project, user, exc: Conflict, *, lost: bool) -> Workspace:
    """After a 409: say what happened and show the way forward (the
    annotator's current or next item)."""
    ws = _next(project, user)
    ahead = {
        "item": "Here is your current item.",
        "done": "Nothing else is left for you.",
    }.get(ws.state, "")
    saved = " Your answer for it was not saved." if lost else ""
    ws.notice = " ".join(p for p in (f"{exc.detail}{saved}", ahead) if p)
    ws.status = 409
    return ws


def _item_label(assignment: Assignment) -> str:
    return f"item {item_label(assignment.item, task_type_key=assignment.project.task_type)}"


# --- the workspace ------------------------------------------------------------


# The pages themselves send a visitor without a session to the login page,
# htmx requests too: accord.js follows that redirect (a tab clicked after the
# session ended); only the writes, which carry work, answer 401.
@login_required
@require_GET
def annotate(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    if project.is_archived:
        ws = Workspace("archived", notice=ARCHIVED)
    else:
        lease = queue_selectors.current_lease(project, request.user)
        ws = Workspace("item", lease, value=lease.draft) if lease else Workspace("start")
    return _show(request, project, ws, page=True)


@login_or_401
@require_POST
@_archived
def annotate_next(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id, access.ANNOTATE)
    return _show(request, project, _next(project, request.user))


@login_or_401
@require_POST
@_archived
def annotate_submit(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    config = queue_selectors.config_version(project.pk, assignment.config_version)
    task_type = tasktypes.get(config.task_type)
    value = task_type.form_value(request.POST, config.config)
    try:
        if value is None:
            raise InvalidInput(NOTHING_CHOSEN, field="value")
        done = annotation_submit(
            assignment=assignment,
            user=user,
            value=value,
            active_ms=_active_ms(request.POST.get("active_ms")),
        )
    except InvalidInput as exc:
        if assignment.state in DONE:
            # A stale form of an item already done: never show that item
            # again as if it were open; go on with the current one.
            ws = _next(project, user)
            ws.notice, ws.status = " ".join(_reasons(exc.errors)), 400
            return _show(request, project, ws)
        ws = Workspace("item", assignment, value=value, errors=_reasons(exc.errors), status=400)
        return _show(request, project, ws)
    except Conflict as exc:
        return _show(request, project, _conflict(project, user, exc, lost=True))
    shown = task_type.display_value(done.annotation.value, config.config)
    verb = "Saved" if done.created else "Already saved"
    messages.success(request, f"{verb}: {shown} for {_item_label(assignment)}.")
    return _show(request, project, _next(project, user))


@login_or_401
@require_POST
@_archived
def annotate_skip(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    reason = request.POST.get("reason", "")
    try:
        # Judged as the API's skip is: the same reason rules on both.
        clean = input_validate(SkipInput, {"reason": reason})["reason"]
        assignment_skip(assignment=assignment, user=user, reason=clean)
    except (InvalidInput, RateLimited) as exc:
        if isinstance(exc, RateLimited):
            errors = [
                f"You skipped many items in a short time; wait {exc.retry_after} seconds, "
                "then try again."
            ]
        else:
            errors = _reasons(exc.errors)
        if assignment.state in DONE:
            ws = _next(project, user)
            ws.notice, ws.status = " ".join(errors), 400
            return _show(request, project, ws)
        ws = Workspace(
            "item",
            assignment,
            value=assignment.draft,
            skip_reason=reason,
            skip_errors=errors,
            status=400,
        )
        return _show(request, project, ws)
    except Conflict as exc:
        return _show(request, project, _conflict(project, user, exc, lost=False))
    messages.success(
        request,
        f"Skipped {_item_label(assignment)}: you will not see it again, unless you take the "
        "skip back from your annotations.",
    )
    return _show(request, project, _next(project, user))


@login_or_401
@require_POST
@_archived
def annotate_unskip(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    try:
        assignment = assignment_unskip(assignment=assignment, user=user)
    except Conflict as exc:
        messages.error(request, f"The skip stays. {exc.detail}")
        return _history_page(request, project, status=409)
    assignment = Assignment.objects.select_related("item").get(pk=assignment.pk)
    messages.success(
        request, f"You took back your skip of {_item_label(assignment)}; it is on screen."
    )
    return _show(request, project, Workspace("item", assignment, value=assignment.draft))


@login_or_401
@require_POST
@_archived
def annotate_later(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    try:
        assignment_later(assignment=assignment, user=user)
    except Conflict as exc:
        return _show(request, project, _conflict(project, user, exc, lost=False))
    messages.success(
        request, f"Put back {_item_label(assignment)}: it comes again after the rest of your queue."
    )
    return _show(request, project, _next(project, user))


def _text(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@login_or_401
@require_POST
def annotate_draft(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    """The autosave of workspace.js: 204, or the reason as plain text (the
    script shows it as the draft's state)."""
    try:
        assignment = _own_assignment(request, project_id, assignment_id)
    except access.ProjectArchived:
        return _text(ARCHIVED, 409)
    config = queue_selectors.config_version(assignment.project_id, assignment.config_version)
    value = tasktypes.get(config.task_type).form_value(request.POST, config.config)
    try:
        assignment_draft(assignment=assignment, user=request.user, value=value)
    except InvalidInput as exc:
        return _text(" ".join(_reasons(exc.errors)), 400)
    except Conflict as exc:
        return _text(exc.detail, 409)
    return HttpResponse(status=204)


@login_or_401
@require_POST
@_archived
def annotate_undo(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    annotation = _own_annotation(request, project_id, annotation_id)
    project, user = annotation.project, request.user
    try:
        assignment = annotation_undo(annotation=annotation, user=user)
    except Conflict as exc:
        return _show(request, project, _conflict(project, user, exc, lost=False))
    assignment = Assignment.objects.select_related("item").get(pk=assignment.pk)
    messages.success(
        request,
        f"Your submission for {_item_label(assignment)} was withdrawn; "
        "it is back on screen with your answer.",
    )
    return _show(request, project, Workspace("item", assignment, value=assignment.draft))


# --- the history --------------------------------------------------------------


@dataclass
class HistoryRow:
    annotation: Annotation
    label: str
    text: str
    more_text: bool
    display: str
    frozen: bool
    editable: bool
    task_template: str
    config: dict
    chosen: list[str]
    errors: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        # Ids of the form's controls, unique among the rows of one page.
        return f"a{self.annotation.pk}-"


def _history_row(annotation: Annotation, configs: dict[int, ConfigVersion]) -> HistoryRow:
    number = annotation.config_version
    if number not in configs:
        configs[number] = queue_selectors.config_version(annotation.project_id, number)
    config = configs[number]
    task_type = tasktypes.get(config.task_type)
    item = annotation.item
    head = getattr(annotation, "text_head", None)
    if head is None:
        head = item.data.get("text", "") if isinstance(item.data, dict) else ""
    head = head if isinstance(head, str) else ""
    # Frozen exactly when the edit service would refuse: compared, or no
    # longer open. Only "frozen" is said, never the outcome (blind).
    frozen = item.compared_at is not None or item.state != ItemState.OPEN
    return HistoryRow(
        annotation=annotation,
        label=item_label(item, text=head),
        text=Truncator(head).chars(HISTORY_TEXT),
        more_text=len(head) > HISTORY_TEXT,
        display=task_type.display_value(annotation.value, config.config),
        frozen=frozen,
        editable=not frozen and annotation.assignment_id is not None,
        task_template=task_type.workspace_template,
        config=config.config,
        chosen=_chosen(annotation.value),
    )


@dataclass
class SkipRow:
    assignment: Assignment
    label: str
    text: str
    # The item can still come back: open, with a free slot.
    can_take_back: bool


def _skip_row(assignment: Assignment) -> SkipRow:
    item = assignment.item
    text = item.data.get("text", "") if isinstance(item.data, dict) else ""
    return SkipRow(
        assignment=assignment,
        label=_item_label(assignment),
        text=Truncator(text if isinstance(text, str) else "").chars(HISTORY_TEXT),
        can_take_back=item.state == ItemState.OPEN and item.free_slots > 0,
    )


def _before(raw: str) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def _history_page(request: HttpRequest, project: Project, *, status: int = 200) -> HttpResponse:
    before = _before(request.GET.get("before", ""))
    rows = queue_selectors.own_annotations(project=project, user=request.user)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    # Only the head of each text is read: an item may hold a megabyte.
    found = list(
        rows.defer("item__data").annotate(
            text_head=Left(KeyTextTransform("text", "item__data"), HISTORY_TEXT + 1)
        )[: HISTORY_PAGE_SIZE + 1]
    )
    configs: dict[int, ConfigVersion] = {}
    context = project_context(request, project, "annotate")
    skips = list(queue_selectors.own_skips(project=project, user=request.user)[: SKIPS_SHOWN + 1])
    context.update(
        skips=[_skip_row(a) for a in skips[:SKIPS_SHOWN]],
        more_skips=len(skips) > SKIPS_SHOWN,
        rows=[_history_row(a, configs) for a in found[:HISTORY_PAGE_SIZE]],
        next_before=found[HISTORY_PAGE_SIZE - 1].pk if len(found) > HISTORY_PAGE_SIZE else None,
        before=before,
        archived=project.is_archived,
    )
    return render_page(request, HISTORY, context, status=status)


@login_required
@require_GET
def annotate_history(request: HttpRequest, project_id: int) -> HttpResponse:
    return _history_page(request, _project(request, project_id))


def _history_row_answer(
    request: HttpRequest, project: Project, annotation: Annotation, *, status: int, **extra: Any
) -> HttpResponse:
    """An edit's answer: htmx gets the row (and the messages out of band),
    anyone else the history page again."""
    if not request.htmx:
        if status < 400:
            url = reverse("annotation:annotate_history", args=[project.pk])
            query = request.GET.urlencode()
            return redirect(f"{url}?{query}" if query else url)
        return _history_page(request, project, status=status)
    annotation = (
        queue_selectors.own_annotations(project=project, user=request.user)
        .filter(pk=annotation.pk)
        .first()
    )
    if annotation is None:  # withdrawn meanwhile (undo in another tab)
        return _history_page(request, project, status=status)
    row = _history_row(annotation, {})
    for name, value in extra.items():
        setattr(row, name, value)
    context = project_context(request, project, "annotate")
    context.update(row=row, oob_messages=True, archived=project.is_archived)
    with timezone.override(project.time_zone):
        response = render(request, f"{HISTORY}#row", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_or_401
@require_POST
def annotate_edit(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    try:
        annotation = _own_annotation(request, project_id, annotation_id)
    except access.ProjectArchived:
        project = _project(request, project_id)
        messages.error(request, ARCHIVED)
        return _history_page(request, project, status=409)
    project = annotation.project
    config = queue_selectors.config_version(project.pk, annotation.config_version)
    task_type = tasktypes.get(config.task_type)
    value = task_type.form_value(request.POST, config.config)
    try:
        if value is None:
            raise InvalidInput(NOTHING_CHOSEN, field="value")
        edited = annotation_edit(annotation=annotation, user=request.user, value=value)
    except InvalidInput as exc:
        messages.error(request, "Nothing was changed: correct the answer marked below.")
        return _history_row_answer(
            request,
            project,
            annotation,
            status=400,
            errors=_reasons(exc.errors),
            chosen=_chosen(value),
        )
    except Conflict as exc:
        messages.error(request, f"Nothing was changed. {exc.detail}")
        return _history_row_answer(request, project, annotation, status=409)
    shown = task_type.display_value(edited.value, config.config)
    label = item_label(annotation.item, task_type_key=config.task_type)
    messages.success(request, f"Your answer for item {label} is now: {shown}.")
    return _history_row_answer(request, project, annotation, status=200)
