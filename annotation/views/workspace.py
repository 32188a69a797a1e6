"""The annotator's workspace (htmx, keyboard-first); their history of
annotations and skips is annotation/history.py.

Thin views over the queue (annotation/queue/), as in projects/views/: each parses
the form, checks access through projects.access, calls one service and
renders through the workspace shell (annotation/shell.py), which the
reviewer's workspace shares. Every write is POST and answers htmx with the
shell's frame (the next item, or a state: nothing left, all leased), anyone
else with a redirect to the page (POST/redirect/GET).

What keeps a stale form harmless: every action posts to the URL of its own
assignment, so a double or held Enter, or a form resent after the network
came back, can only ever act on the assignment it was rendered for; the
submit service answers the same value again with the same annotation, and
the view then shows the annotator's current lease (a claim resumes it).

A write made by the page's script (htmx, or fetch for drafts) without a
session answers 401 instead of the login redirect, so static/js/shell.js can
open its sign-in dialog and send the kept form again (SECURITY.md E4); a
plain browser post, and any GET of a page, still go to the login page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

import tasktypes
from accord.errors import Conflict, InvalidInput
from accord.pages import login_or_401
from accord.ratelimit import RateLimited
from annotation import hooks, selectors
from annotation.api import SkipInput
from annotation.models import Annotation, Assignment, AssignmentState
from annotation.queue.claim import assignment_next
from annotation.queue.release import assignment_draft, assignment_later, assignment_skip
from annotation.queue.revisions import annotation_undo, last_submission
from annotation.queue.submit import annotation_submit
from annotation.shell import (
    Shell,
    archived_notice,
    guideline_context,
    sentences,
    shell_show,
    task_context,
)
from items.labels import item_label
from projects import access
from projects.fields import input_validate
from projects.models import Project
from projects.pages import project_context
from projects.selectors import config_version

SHELL = Shell(
    frame="workspace",
    title="Annotate",
    screen="annotation/_workspace.html",
    keys="annotation/_workspace_keys.html",
    # A constant with markup (no user data), so marked safe here.
    keymap_help=mark_safe(
        "They work whenever the focus is not in a text field, where every key is text. Keys "
        "typed while the next item loads are applied to it once it is shown; an "
        "<kbd>Enter</kbd> typed then submits it only after a label key typed then."
    ),
    status_id="save-state",
    guidelines_key="accord:guidelines-open",
    url_name="annotation:annotate",
    links="annotation/_workspace_links.html",
    frame_class="ws",
    typeahead=True,
    relogin=True,
)
# How long the "all leased" state waits before it asks again when the
# service gives no hint.
DEFAULT_RETRY = 10
NOTHING_CHOSEN = "nothing is chosen yet: choose an answer, then submit"
ARCHIVED = archived_notice("annotate")
# An assignment that no answer can change any more. An ended lease is not
# among them: a late answer is still taken while the item has a free slot.
DONE = (AssignmentState.SUBMITTED, AssignmentState.SKIPPED)


# --- plumbing -----------------------------------------------------------------


def annotator_project(request: HttpRequest, project_id: int) -> Project:
    """Annotators only; anyone else gets 404, like a project that does not
    exist (a lead or reviewer who does not annotate has no workspace)."""
    return access.access_project(request.user, project_id, access.ANNOTATE, write=False)


def own_assignment(request: HttpRequest, project_id: int, assignment_id: int) -> Assignment:
    assignment = access.access_assignment(request.user, assignment_id, write=False)
    if assignment.project_id != project_id:
        raise Http404
    if assignment.project.is_archived:
        raise access.ProjectArchived
    return assignment


def own_annotation(request: HttpRequest, project_id: int, annotation_id: int) -> Annotation:
    annotation = access.access_annotation(request.user, annotation_id, write=False)
    # access_annotation also lets a lead read; writing here is for its author.
    if annotation.project_id != project_id or annotation.annotator_id != request.user.pk:
        raise Http404
    if annotation.project.is_archived:
        raise access.ProjectArchived
    return annotation


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
    found = dict(selectors.assignment_guidelines(project, assignment, user))
    return guideline_context(found.pop("guideline"), **found)


def _last_submission(project: Project, user) -> dict[str, Any] | None:
    last = last_submission(project=project, user=user)
    if last is None:
        return None
    config = config_version(project.pk, last.config_version)
    shown = tasktypes.get(config.task_type).display_value(last.value, config.config)
    label = item_label(last.item, task_type_key=config.task_type)
    return {"annotation": last, "display": shown, "label": label}


def _context(request: HttpRequest, project: Project, ws: Workspace) -> dict[str, Any]:
    user = request.user
    context = project_context(request, project, "annotate")
    context.update(
        ws=ws,
        state=ws.state,
        progress=selectors.annotator_progress(project, user),
        unseen_feedback=hooks.unseen_feedback(project=project, user=user),
        last=None if project.is_archived else _last_submission(project, user),
    )
    if ws.assignment is not None and ws.state == "item":
        assignment = ws.assignment
        config = config_version(project.pk, assignment.config_version)
        task_type = tasktypes.get(config.task_type)
        context.update(
            assignment=assignment,
            item=assignment.item,
            value=ws.value,
            errors=ws.errors,
            **task_context(task_type, config.config, ws.value),
            **_guidelines(project, assignment, user),
        )
    return context


def show(
    request: HttpRequest, project: Project, ws: Workspace, *, page: bool = False
) -> HttpResponse:
    """The workspace through the shell (annotation.shell.shell_show)."""
    context = _context(request, project, ws)
    return shell_show(
        request, SHELL, context, status=ws.status, retry_after=ws.retry_after, page=page
    )


def archived_write(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A write on an archived project answers 409 with the read-only state."""

    @wraps(view)
    def wrapper(request: HttpRequest, project_id: int, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, project_id, **kwargs)
        except access.ProjectArchived:
            project = annotator_project(request, project_id)
            return show(request, project, Workspace("archived", notice=ARCHIVED, status=409))

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


def assignment_label(assignment: Assignment) -> str:
    return f"item {item_label(assignment.item, task_type_key=assignment.project.task_type)}"


# --- the workspace ------------------------------------------------------------


# The pages themselves send a visitor without a session to the login page,
# htmx requests too: accord.js follows that redirect (a tab clicked after the
# session ended); only the writes, which carry work, answer 401.
@login_required
@require_GET
def annotate(request: HttpRequest, project_id: int) -> HttpResponse:
    project = annotator_project(request, project_id)
    if project.is_archived:
        ws = Workspace("archived", notice=ARCHIVED)
    else:
        lease = selectors.current_lease(project, request.user)
        ws = Workspace("item", lease, value=lease.draft) if lease else Workspace("start")
    return show(request, project, ws, page=True)


@login_or_401
@require_POST
@archived_write
def annotate_next(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id, access.ANNOTATE)
    return show(request, project, _next(project, request.user))


@login_or_401
@require_POST
@archived_write
def annotate_submit(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    config = config_version(project.pk, assignment.config_version)
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
            ws.notice, ws.status = " ".join(sentences(exc.errors)), 400
            return show(request, project, ws)
        ws = Workspace("item", assignment, value=value, errors=sentences(exc.errors), status=400)
        return show(request, project, ws)
    except Conflict as exc:
        return show(request, project, _conflict(project, user, exc, lost=True))
    shown = task_type.display_value(done.annotation.value, config.config)
    verb = "Saved" if done.created else "Already saved"
    messages.success(request, f"{verb}: {shown} for {assignment_label(assignment)}.")
    return show(request, project, _next(project, user))


@login_or_401
@require_POST
@archived_write
def annotate_skip(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = own_assignment(request, project_id, assignment_id)
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
            errors = sentences(exc.errors)
        if assignment.state in DONE:
            ws = _next(project, user)
            ws.notice, ws.status = " ".join(errors), 400
            return show(request, project, ws)
        ws = Workspace(
            "item",
            assignment,
            value=assignment.draft,
            skip_reason=reason,
            skip_errors=errors,
            status=400,
        )
        return show(request, project, ws)
    except Conflict as exc:
        return show(request, project, _conflict(project, user, exc, lost=False))
    messages.success(
        request,
        f"Skipped {assignment_label(assignment)}: you will not see it again, unless you take the "
        "skip back from your annotations.",
    )
    return show(request, project, _next(project, user))


@login_or_401
@require_POST
@archived_write
def annotate_later(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    try:
        assignment_later(assignment=assignment, user=user)
    except Conflict as exc:
        return show(request, project, _conflict(project, user, exc, lost=False))
    messages.success(
        request,
        f"Put back {assignment_label(assignment)}: it comes again after the rest of your queue.",
    )
    return show(request, project, _next(project, user))


def _text(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@login_or_401
@require_POST
def annotate_draft(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    """The autosave of shell.js: 204, or the reason as plain text (the
    script shows it as the draft's state)."""
    try:
        assignment = own_assignment(request, project_id, assignment_id)
    except access.ProjectArchived:
        return _text(ARCHIVED, 409)
    config = config_version(assignment.project_id, assignment.config_version)
    value = tasktypes.get(config.task_type).form_value(request.POST, config.config)
    try:
        assignment_draft(assignment=assignment, user=request.user, value=value)
    except InvalidInput as exc:
        return _text(" ".join(sentences(exc.errors)), 400)
    except Conflict as exc:
        return _text(exc.detail, 409)
    return HttpResponse(status=204)


def back_on_screen(request: HttpRequest, project: Project, assignment, message: str):
    """An assignment given back to its annotator (an undo, a skip taken
    back) is on screen again with its draft; ``message`` names it as
    ``{label}``."""
    assignment = Assignment.objects.select_related("item").get(pk=assignment.pk)
    messages.success(request, message.format(label=assignment_label(assignment)))
    return show(request, project, Workspace("item", assignment, value=assignment.draft))


@login_or_401
@require_POST
@archived_write
def annotate_undo(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    annotation = own_annotation(request, project_id, annotation_id)
    project, user = annotation.project, request.user
    try:
        assignment = annotation_undo(annotation=annotation, user=user)
    except Conflict as exc:
        return show(request, project, _conflict(project, user, exc, lost=False))
    return back_on_screen(
        request,
        project,
        assignment,
        "Your submission for {label} was withdrawn; it is back on screen with your answer.",
    )
