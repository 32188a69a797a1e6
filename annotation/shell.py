"""The workspace shell: what the annotator's workspace (annotation/
views/workspace.py) and the reviewer's (review/views/workspace.py) share.

Both render one page, templates/shell/page.html: its layout, status region,
item frame, guidelines panel and key map are the shell's; a ``Shell`` names
the page's own parts (its screen: states and actions; its rows of the key
map) and the task type names its own (``workspace_template``,
``review_template`` and ``script``, the JS module that registers with
static/js/shell.js). So a new task type brings its partials and module and
touches neither workspace.

Every action answers htmx with the frame partial (``FRAME``) and anyone else
with the whole page, or a redirect to it after a write that went well
(POST/redirect/GET).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accord.pages import render_page, render_partial
from projects.markdown import render_markdown
from projects.models import GuidelineVersion
from tasktypes.base import HOTKEY_RE, TaskType

PAGE = "shell/page.html"
FRAME = "frame"


@dataclass(frozen=True)
class Shell:
    """One workspace's parts of the shell page. ``frame`` is the id of the
    swapped element (the htmx target, and what shell.js watches)."""

    frame: str
    title: str
    screen: str  # the page's part of the frame: its states and its item
    keys: str  # the page's own rows of the key map (<tbody> elements)
    keymap_help: str
    status_id: str  # the live region's id
    guidelines_key: str  # where the panel's open/closed choice is kept
    # The page's url name: a plain browser post that went well goes there.
    url_name: str
    links: str = ""
    page_class: str = ""
    frame_class: str = ""
    # Keys typed while the next item loads are applied to it.
    typeahead: bool = False
    # A 401 opens a sign-in dialog and the kept request goes again.
    relogin: bool = False


def chosen(value: Any) -> list[str]:
    """The keys a value picks, for checking boxes (a single key is a list of
    one, so the template never tests a substring)."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def sentence(reason: Any) -> str:
    """A service's reason as a sentence: capitalised, one full stop."""
    reason = str(reason).rstrip(".")
    return f"{reason[:1].upper()}{reason[1:]}."


def sentences(errors: list[dict[str, Any]]) -> list[str]:
    return [sentence(error.get("reason", "")) for error in errors]


def archived_notice(verb: str) -> str:
    return f"This project is archived, so it is read-only: there is nothing to {verb}."


def guideline_context(shown: GuidelineVersion | None, **extra: Any) -> dict[str, Any]:
    """The guidelines panel: the version shown, rendered, and what the page
    adds (for the annotator: whether it changed since the last item)."""
    return {
        **extra,
        "guideline": shown,
        "guideline_html": render_markdown(shown.body) if shown else "",
    }


def keymap_labels(task_type: TaskType, config: dict) -> list[dict[str, str]]:
    """The task type's keys for the key map: single lowercase letters or
    digits pressed without Shift (a hotkey that would need Shift is left out
    rather than shadow an action of the page)."""
    names = {label["key"]: label["name"] for label in config.get("labels", [])}
    return [
        {"key": hotkey, "name": names.get(value, value)}
        for hotkey, value in task_type.hotkeys(config).items()
        if HOTKEY_RE.match(hotkey)
    ]


def task_context(task_type: TaskType, config: dict, value: Any) -> dict[str, Any]:
    """What the task type's partials read, and the key map's label rows."""
    return {
        "task_key": task_type.key,
        "task_template": task_type.workspace_template,
        "review_template": task_type.review_template,
        "config": config,
        "chosen": chosen(value),
        "keymap_labels": keymap_labels(task_type, config),
    }


def shell_show(
    request: HttpRequest,
    shell: Shell,
    context: dict[str, Any],
    *,
    status: int = 200,
    retry_after: int | None = None,
    page: bool = False,
) -> HttpResponse:
    """The page (or its section, for an htmx tab), or after an action the
    frame partial with the messages out of band. A plain browser post that
    led to an item is redirected to the page, so a reload does not post
    again."""
    project = context["project"]
    if not page and not request.htmx and context.get("state") == "item" and status < 400:
        return redirect(shell.url_name, project_id=project.pk)
    context["shell"] = shell
    if page or not request.htmx:
        response = render_page(request, PAGE, context, status=status)
    else:
        response = render_partial(request, PAGE, FRAME, context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response
