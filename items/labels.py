"""What a person reads for an item: never the database's id where they
know the item by theirs."""

from __future__ import annotations

from django.utils.text import Truncator

import tasktypes

from .models import Item

EXCERPT = 40  # characters of the item's text when it has no external id


def item_label(item: Item, *, task_type_key: str | None = None, text: str | None = None) -> str:
    """The item's external id; else the head of its text, quoted; else its
    number (``#304``). ``task_type_key`` says where the text is (a prompt,
    a text); by default the project's task type, read if not loaded.
    ``text``: the item's text when the caller has it (and not the data)."""
    if item.external_id:
        return item.external_id
    if text is None and "data" not in item.get_deferred_fields() and isinstance(item.data, dict):
        key = task_type_key or item.project.task_type
        text = tasktypes.get(key).item_text(item.data)
    text = " ".join((text or "").split())
    if text:
        return f"“{Truncator(text).chars(EXCERPT)}”"
    return f"#{item.pk}"
