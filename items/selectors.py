"""Reads of items: the filtered list behind the API and the project page."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform

from accord.errors import InvalidInput
from projects.models import Project

from .models import Item, ItemState
from .text_search import text_contains

META_KEY = re.compile(r"^meta\.([A-Za-z0-9][A-Za-z0-9_\-]{0,63})$")
# Filter keys are an allowlist: nothing from the query string reaches the ORM
# as a lookup path (SECURITY.md A2, B6).
FILTER_KEYS = {"state", "external_id", "q"}
PAGING_KEYS = {"cursor", "page_size"}


def items_filter(project: Project, params: Mapping[str, str]) -> QuerySet[Item]:
    items = Item.objects.filter(project=project)
    errors = []
    for key in params:
        if key in FILTER_KEYS or key in PAGING_KEYS or (META_KEY.match(key) and "__" not in key):
            continue
        errors.append(
            {
                "field": key[:100],
                "reason": "unknown filter; use state, external_id, q or meta.<field>",
            }
        )
    if errors:
        raise InvalidInput(errors)
    state = params.get("state")
    if state:
        if state not in ItemState.values:
            raise InvalidInput(f"must be one of {', '.join(ItemState.values)}", field="state")
        items = items.filter(state=state)
    elif "state" not in params:
        items = items.exclude(state=ItemState.ARCHIVED)
    if params.get("external_id"):
        items = items.filter(external_id=params["external_id"])
    q = params.get("q", "").strip()
    if q:
        if len(q) > 500:
            raise InvalidInput("at most 500 characters", field="q")
        if "\x00" in q:
            # No item's text holds one (PostgreSQL refuses it in text).
            raise InvalidInput("must not contain a NUL character", field="q")
        items = items.filter(text_contains(q))
    for index, (key, value) in enumerate(sorted(params.items())):
        match = META_KEY.match(key)
        if match:
            # An explicit key transform: a field named like a lookup
            # ("contains", "isnull") is still just a key.
            alias = f"meta_{index}"
            items = items.alias(**{alias: KeyTextTransform(match.group(1), "meta")}).filter(
                **{alias: value}
            )
    return items
