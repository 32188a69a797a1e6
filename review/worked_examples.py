"""Precedents into the guidelines: an adjudication appended to the
guidelines' draft as a worked example, for the lead to edit and publish."""

from __future__ import annotations

import re

from django.db import transaction

from accord.errors import Conflict
from items.labels import item_label
from projects.models import GuidelineDraft
from projects.selectors import task_config
from projects.services import guideline_draft_save

from .models import GoldRecord, GoldSource

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def _quoted(text: str, limit: int = 600) -> str:
    text = text if len(text) <= limit else text[:limit].rstrip() + "…"
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return "\n".join("> " + line for line in escaped.splitlines() or [""])


def gold_promote(*, gold: GoldRecord, user) -> str:
    """Append an adjudication to the guidelines' draft as a worked example;
    the lead edits and publishes it like any other change. Returns the
    appended Markdown."""

    if gold.source == GoldSource.CONSENSUS:
        raise Conflict("Only a reviewer's decision can become a worked example.")
    project = gold.project
    task_type, config = task_config(project.pk, gold.config_version)
    text = task_type.item_text(gold.item.data)
    answer = "excluded from gold" if gold.excluded else task_type.display_value(gold.value, config)
    name = _MARKDOWN_SPECIAL.sub(r"\\\1", item_label(gold.item, task_type_key=task_type.key))
    example = f"### Worked example (item {name})\n\n{_quoted(text)}\n\n**Answer:** " + (
        _MARKDOWN_SPECIAL.sub(r"\\\1", answer)
    )
    if gold.reason:
        example += "\n\n**Why:** " + _MARKDOWN_SPECIAL.sub(r"\\\1", gold.reason)
    with transaction.atomic():
        draft = GuidelineDraft.objects.select_for_update().filter(project=project).first()
        body = (draft.body if draft else "").rstrip()
        guideline_draft_save(
            project=project, user=user, body=(body + "\n\n" if body else "") + example + "\n"
        )
    return example
