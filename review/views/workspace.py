"""The reviewer's workspace (htmx, keyboard-first).

Thin views over review/leases.py and review/gold.py, mirroring the
annotator's workspace (annotation/views/workspace.py): each parses the form,
checks access through projects.access, calls one service and renders.
It renders through the workspace shell the annotator's workspace shares
(annotation/shell.py): the reviewer's part is its screen and key rows, the
side-by-side annotations come from the task type's review partial. Every
write is POST and answers htmx with the shell's frame (the next item after a
decision, or a state: nothing left, all leased, given back), anyone else
with a redirect to the page (POST/redirect/GET).

What keeps a stale form harmless: every action posts to the URL of its own
review, and access_review finds only the caller's own reviews, so a resent
or double-submitted form can only ever act on the review it was rendered
for; resolving again with the same decision answers with the stored gold.

The GET page changes nothing: it shows the reviewer's live lease, or a
"start" state whose form the page posts at once (hx-trigger load), as the
annotator's workspace does. A claim, which takes or renews a lease, is
always a POST, so a prefetch or a link preview never takes an item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

import tasktypes
from accord.errors import Conflict, InvalidInput
from accord.pages import login_or_401
from annotation.queue.claim import NothingLeft
from annotation.shell import (
    Shell,
    archived_notice,
    guideline_context,
    keymap_labels,
    sentence,
    shell_show,
    task_context,
)
from items.labels import item_label
from items.models import ItemState
from projects import access
from projects.models import GuidelineVersion, Project
from projects.pages import project_context
from projects.selectors import config_version
from projects.templatetags.accord_extras import duration
from review import decisions, gold, leases, selectors
from review.models import Review, ReviewKind, ReviewState
from tasktypes.base import TaskType

SHELL = Shell(
    frame="review",
    title="Review",
    screen="review/_review.html",
    keys="review/_review_keys.html",
    # A constant with markup (no user data), so marked safe here.
    keymap_help=mark_safe(
        "They work whenever the focus is not in a text field or a list; the "
        "<kbd>Alt</kbd> keys work there too, and never type."
    ),
    status_id="review-status",
    guidelines_key="accord:review-guidelines-open",
    url_name="review:review",
    page_class="rv-page",
    frame_class="rv",
)
# How long "all leased" waits before it asks again when the service gives
# no hint.
DEFAULT_RETRY = 10
# Shift+1 … Shift+9 accept annotations 1 … 9; more have only their button.
ACCEPT_KEYS = 9
NOTHING_CHOSEN = "nothing is chosen yet: choose the gold value, then resolve"
NOTHING_LABELLED = "nothing is chosen yet: choose your label, then record it"
ARCHIVED = archived_notice("review")


# --- what the workspace shows -------------------------------------------------


@dataclass
class ReviewScreen:
    """``state``: "item" (a review on screen), "start" (no lease yet: the
    page claims one), "done" (nothing left), "leased" (all left is held by
    other reviewers), "released" (just given back), "archived"."""

    state: str
    review: Review | None = None
    # The gold value (or blind label) on screen, and the reason fields, as
    # the reviewer left them when a decision was refused.
    value: Any = None
    reason: str = ""
    reason_code: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    retry_after: int | None = None
    notice: str = ""
    status: int = 200
    released_item: str = ""


def _field_errors(exc: InvalidInput) -> dict[str, list[str]]:
    """The service's {field, reason} list by field; what no field of the
    form shows (annotation, exclude) goes under "form"."""
    shown = {"value", "reason", "reason_code"}
    out: dict[str, list[str]] = {}
    for error in exc.errors:
        name = error.get("field") or ""
        name = name if name in shown else "form"
        out.setdefault(name, []).append(sentence(error.get("reason", "")))
    return out


def _project(request: HttpRequest, project_id: int) -> Project:
    """Reviewers only; anyone else gets 404, like a project that does not
    exist."""
    return access.access_project(request.user, project_id, access.REVIEW, write=False)


def _own_review(request: HttpRequest, project_id: int, review_id: int) -> Review:
    """The caller's own review in this project (404 for any other: another
    reviewer's, another project's), checked through projects.access."""
    review = access.access_review(request.user, review_id, write=True)
    if review.project_id != project_id:
        raise Http404
    return review


def _next(project: Project, user) -> ReviewScreen:
    """The reviewer's lease after an action: the current one resumed, or a
    new one, or why there is none."""
    try:
        claim = leases.review_claim(project=project, user=user)
    except NothingLeft as empty:
        if empty.reason == "done":
            return ReviewScreen("done")
        return ReviewScreen("leased", retry_after=empty.retry_after or DEFAULT_RETRY)
    claim.review.project = project
    return ReviewScreen("item", claim.review)


def _current(project: Project, user) -> Review | None:
    """The reviewer's live lease, read without renewing it (a GET changes
    nothing; the claim that renews is a POST)."""
    review = (
        Review.objects.filter(
            project=project,
            reviewer=user,
            state=ReviewState.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .select_related("item")
        .first()
    )
    if review is not None:
        review.project = project
    return review


# --- the screen's parts -------------------------------------------------------


def _ms(value: int | None) -> str:
    if value is None:
        return "not recorded"
    if value < 1000:
        return "under 1 s"
    return duration(round(value / 1000))


def _cards(payload: dict[str, Any], current_guideline: int | None) -> list[dict[str, Any]]:
    """The annotations as cards: who (or a letter), the times in words, and
    whether they worked under older guidelines than the reviewer's."""
    cards = []
    for n, annotation in enumerate(payload["annotations"], start=1):
        version = annotation["guideline_version"]
        person = annotation["annotator"]
        cards.append(
            {
                **annotation,
                "n": n,
                "letter": annotation["label"].rsplit(" ", 1)[-1],
                "name": person["username"] if person else annotation["label"],
                "active": _ms(annotation["active_ms"]),
                "lease_to_submit": _ms(annotation["lease_to_submit_ms"]),
                "older_guidelines": version is not None
                and current_guideline is not None
                and version < current_guideline,
                "hotkey": n if n <= ACCEPT_KEYS else None,
            }
        )
    return cards


def keymap(task_type: TaskType, config: dict, n_annotations: int) -> dict[str, list]:
    """The review's key map: label hotkeys (the shell's keymap_labels: single
    lowercase letters or digits, pressed without Shift) and Shift+1…9, which
    accept an annotation. review.js reads Shift+digit by its physical key
    (event.code), so the two sets can never collide."""
    accept = list(range(1, min(n_annotations, ACCEPT_KEYS) + 1))
    return {"labels": keymap_labels(task_type, config), "accept": accept}


def _match_line(task_type: TaskType, blind_value: Any, annotations: list[dict]) -> dict:
    """Whether the reviewer's blind label agrees with the annotators."""
    mine = task_type.value_key(blind_value)
    same = sum(1 for a in annotations if task_type.value_key(a["value"]) == mine)
    return {"matched": same, "of": len(annotations), "all": same == len(annotations)}


def _guideline(project: Project, number: int | None) -> dict[str, Any]:
    shown = None
    if number is not None:
        shown = GuidelineVersion.objects.filter(project=project, number=number).first()
    return guideline_context(shown)


def _item_context(project: Project, ws: ReviewScreen) -> dict[str, Any]:
    review = ws.review
    config_row = config_version(project.pk, review.config_version)
    task_type, config = tasktypes.get(config_row.task_type), config_row.config
    payload = selectors.review_payload(review)
    blind = payload["blind"]
    # The gold value on screen: what a refused post sent, else (audit) the
    # reviewer's own blind label, so agreeing with it is one key: Enter.
    value = ws.value if ws.value is not None else review.blind_value
    cards = _cards(payload, review.guideline_version)
    return {
        "review": review,
        "item": review.item,
        "audit": review.kind == ReviewKind.AUDIT,
        "blind": blind,
        "cards": cards,
        "disputed": payload["disputed"],
        "match": None
        if blind or review.kind != ReviewKind.AUDIT
        else _match_line(task_type, review.blind_value, payload["annotations"]),
        "blind_display": None
        if review.blind_value is None
        else task_type.display_value(review.blind_value, config),
        **task_context(task_type, config, value),
        "label_role": "label" if blind else "gold value",
        "errors": ws.errors.get("value", []),
        "reason_errors": ws.errors.get("reason", []),
        "code_errors": ws.errors.get("reason_code", []),
        "form_errors": ws.errors.get("form", []),
        "reason": ws.reason,
        "reason_code": ws.reason_code,
        # The panel would give the answer away before the blind label.
        "precedents": [] if blind else selectors.precedents(review),
        "keymap": keymap(task_type, config, len(cards)),
        **_guideline(project, review.guideline_version),
    }


def _context(request: HttpRequest, project: Project, ws: ReviewScreen) -> dict[str, Any]:
    context = project_context(request, project, "review")
    context.update(ws=ws, state=ws.state, reason_codes=project.reason_codes)
    if ws.state == "item" and ws.review is not None:
        context.update(_item_context(project, ws))
    return context


def _show(
    request: HttpRequest, project: Project, ws: ReviewScreen, *, page: bool = False
) -> HttpResponse:
    """The reviewer's workspace through the shell (annotation.shell)."""
    context = _context(request, project, ws)
    return shell_show(
        request, SHELL, context, status=ws.status, retry_after=ws.retry_after, page=page
    )


def _archived(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    return _show(request, project, ReviewScreen("archived", notice=ARCHIVED, status=409))


def _conflict(project: Project, user, exc: Conflict) -> ReviewScreen:
    """After a 409: say what happened and show the reviewer's live review,
    or the start screen (which takes the next item). A refused request
    changes nothing, not even a lease's end."""
    current = _current(project, user)
    ws = ReviewScreen("item", current) if current else ReviewScreen("start")
    ahead = {"item": "Here is your current item.", "start": "Take the next item to go on."}
    ws.notice = " ".join(p for p in (exc.detail, ahead.get(ws.state, "")) if p)
    ws.status = 409
    return ws


def _item_label(review: Review) -> str:
    return f"item {item_label(review.item, task_type_key=review.project.task_type)}"


# --- the page and the claim ---------------------------------------------------


# The page sends a visitor without a session to the login page, htmx
# requests too (accord.js follows that redirect); only writes answer 401.
@login_required
@require_GET
def review(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    if project.is_archived:
        ws = ReviewScreen("archived", notice=ARCHIVED)
    else:
        current = _current(project, request.user)
        ws = ReviewScreen("item", current) if current else ReviewScreen("start")
    return _show(request, project, ws, page=True)


@login_or_401
@require_POST
def review_next(request: HttpRequest, project_id: int) -> HttpResponse:
    try:
        project = access.access_project(request.user, project_id, access.REVIEW, write=True)
    except access.ProjectArchived:
        return _archived(request, project_id)
    return _show(request, project, _next(project, request.user))


# --- actions on one review ----------------------------------------------------


def _task(review: Review) -> tuple[TaskType, dict]:
    row = config_version(review.project_id, review.config_version)
    return tasktypes.get(row.task_type), row.config


def _settled(review: Review) -> bool:
    """Nothing this form sends can change the review any more: show the next
    item rather than this one as if it were open."""
    review.refresh_from_db(fields=["state"])
    review.item.refresh_from_db(fields=["state"])
    return review.state == ReviewState.RESOLVED or review.item.state != ItemState.REVIEW


@login_or_401
@require_POST
def review_blind(request: HttpRequest, project_id: int, review_id: int) -> HttpResponse:
    try:
        review = _own_review(request, project_id, review_id)
    except access.ProjectArchived:
        return _archived(request, project_id)
    project, user = review.project, request.user
    task_type, config = _task(review)
    value = task_type.form_value(request.POST, config)
    try:
        if value is None:
            raise InvalidInput(NOTHING_LABELLED, field="value")
        review = leases.review_blind(review=review, user=user, value=value)
    except InvalidInput as exc:
        ws = ReviewScreen("item", review, value=value, errors=_field_errors(exc), status=400)
        return _show(request, project, ws)
    except Conflict as exc:
        if exc.extra.get("code") == "blind_done":
            # Labelled already (another tab): the annotations are shown now.
            review = access.access_review(user, review_id)
            return _show(
                request, project, ReviewScreen("item", review, notice=exc.detail, status=409)
            )
        return _show(request, project, _conflict(project, user, exc))
    review = access.access_review(user, review_id)
    messages.success(
        request,
        f"Your label for {_item_label(review)} is recorded: "
        f"{task_type.display_value(review.blind_value, config)}. The annotations are shown now.",
    )
    return _show(request, project, ReviewScreen("item", review))


def _decision(request: HttpRequest, task_type: TaskType, config: dict) -> dict[str, Any]:
    """What the form asks for: the button pressed decides (Accept N sends
    ``annotation``, Exclude sends ``exclude``); otherwise the chosen value."""
    post = request.POST
    why = {"reason": post.get("reason", ""), "reason_code": post.get("reason_code", "")}
    if post.get("annotation"):
        return {"annotation": post["annotation"], **why}
    if post.get("exclude"):
        return {"exclude": True, **why}
    value = task_type.form_value(post, config)
    if value is None:
        raise InvalidInput(NOTHING_CHOSEN, field="value")
    return {"value": value, **why}


def _resolved_text(review: Review, gold_record, created: bool, shown: str) -> str:
    label = _item_label(review)
    if not created:
        return f"Already resolved: {label} stays as decided ({shown})."
    if gold_record.excluded:
        return f"Excluded {label} from gold."
    return f"Resolved {label}: gold is {shown}."


@login_or_401
@require_POST
def review_resolve(request: HttpRequest, project_id: int, review_id: int) -> HttpResponse:
    try:
        review = _own_review(request, project_id, review_id)
    except access.ProjectArchived:
        return _archived(request, project_id)
    project, user = review.project, request.user
    task_type, config = _task(review)
    kept = {
        "value": task_type.form_value(request.POST, config),
        "reason": request.POST.get("reason", "")[: decisions.MAX_REASON],
        "reason_code": request.POST.get("reason_code", ""),
    }
    try:
        record, created = gold.review_resolve(
            review=review, user=user, **_decision(request, task_type, config)
        )
    except InvalidInput as exc:
        if _settled(review):
            ws = _next(project, user)
            ws.notice = " ".join(sentence(e["reason"]) for e in exc.errors)
            ws.status = 400
            return _show(request, project, ws)
        ws = ReviewScreen("item", review, errors=_field_errors(exc), status=400, **kept)
        return _show(request, project, ws)
    except Conflict as exc:
        if exc.extra.get("code") == "blind_first":
            ws = ReviewScreen("item", review, notice=exc.detail, status=409)
            return _show(request, project, ws)
        return _show(request, project, _conflict(project, user, exc))
    shown = "excluded" if record.excluded else task_type.display_value(record.value, config)
    messages.success(request, _resolved_text(review, record, created, shown))
    return _show(request, project, _next(project, user))


@login_or_401
@require_POST
def review_release(request: HttpRequest, project_id: int, review_id: int) -> HttpResponse:
    try:
        review = _own_review(request, project_id, review_id)
    except access.ProjectArchived:
        return _archived(request, project_id)
    project = review.project
    released = leases.review_release(review=review, user=request.user)
    if released:
        messages.success(request, f"Gave back {_item_label(review)}: another reviewer can take it.")
    else:
        messages.info(request, f"Your lease on {_item_label(review)} had already ended.")
    # Not the next claim at once: the queue would hand the same item back.
    ws = ReviewScreen("released", released_item=_item_label(review))
    if not request.htmx:
        return redirect("review:review", project_id=project.pk)
    return _show(request, project, ws)
