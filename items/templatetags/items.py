"""{{ item|item_label:"classification" }}: an item as a person knows it."""

from __future__ import annotations

from django import template

from items.labels import item_label as label_of
from items.models import Item

register = template.Library()


@register.filter
def item_label(item: Item, task_type_key: str) -> str:
    return label_of(item, task_type_key=task_type_key)
