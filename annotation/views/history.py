"""The annotator's history: their annotations (each editable until its item
is compared or closed) and their skips (each can be taken back while the
item has a free slot). The workspace itself is annotation/views/workspace.py.

Thin views like the workspace's: htmx gets the edited row (and the messages
out of band), anyone else the page again (POST/redirect/GET).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Left
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST

import tasktypes
from accord.errors import Conflict, InvalidInput
from accord.pages import login_or_401, render_page
from annotation import selectors
from annotation.models import Annotation, Assignment
from annotation.queue.release import assignment_unskip
from annotation.queue.revisions import annotation_edit
from annotation.shell import chosen, sentences
from items.labels import item_label
from items.models import ItemState
from projects import access
from projects.models import ConfigVersion, Project
from projects.pages import project_context
from projects.selectors import config_version

from .workspace import (
    ARCHIVED,
    NOTHING_CHOSEN,
    annotator_project,
    archived_write,
    assignment_label,
    back_on_screen,
    own_annotation,
    own_assignment,
)

HISTORY = "annotation/history.html"
HISTORY_PAGE_SIZE = 25
HISTORY_TEXT = 400  # characters of an item's text in the history
SKIPS_SHOWN = 20  # the latest skips, above the annotations


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
        configs[number] = config_version(annotation.project_id, number)
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
        chosen=chosen(annotation.value),
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
        label=assignment_label(assignment),
        text=Truncator(text if isinstance(text, str) else "").chars(HISTORY_TEXT),
        can_take_back=item.state == ItemState.OPEN and item.free_slots > 0,
    )


def _before(raw: str) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def history_page(request: HttpRequest, project: Project, *, status: int = 200) -> HttpResponse:
    before = _before(request.GET.get("before", ""))
    rows = selectors.own_annotations(project=project, user=request.user)
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
    skips = list(selectors.own_skips(project=project, user=request.user)[: SKIPS_SHOWN + 1])
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
    return history_page(request, annotator_project(request, project_id))


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
        return history_page(request, project, status=status)
    annotation = (
        selectors.own_annotations(project=project, user=request.user)
        .filter(pk=annotation.pk)
        .first()
    )
    if annotation is None:  # withdrawn meanwhile (undo in another tab)
        return history_page(request, project, status=status)
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
        annotation = own_annotation(request, project_id, annotation_id)
    except access.ProjectArchived:
        project = annotator_project(request, project_id)
        messages.error(request, ARCHIVED)
        return history_page(request, project, status=409)
    project = annotation.project
    config = config_version(project.pk, annotation.config_version)
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
            errors=sentences(exc.errors),
            chosen=chosen(value),
        )
    except Conflict as exc:
        messages.error(request, f"Nothing was changed. {exc.detail}")
        return _history_row_answer(request, project, annotation, status=409)
    shown = task_type.display_value(edited.value, config.config)
    label = item_label(annotation.item, task_type_key=config.task_type)
    messages.success(request, f"Your answer for item {label} is now: {shown}.")
    return _history_row_answer(request, project, annotation, status=200)


# --- taking a skip back -------------------------------------------------------


@login_or_401
@require_POST
@archived_write
def annotate_unskip(request: HttpRequest, project_id: int, assignment_id: int) -> HttpResponse:
    assignment = own_assignment(request, project_id, assignment_id)
    project, user = assignment.project, request.user
    try:
        assignment = assignment_unskip(assignment=assignment, user=user)
    except Conflict as exc:
        messages.error(request, f"The skip stays. {exc.detail}")
        return history_page(request, project, status=409)
    return back_on_screen(
        request, project, assignment, "You took back your skip of {label}; it is on screen."
    )
