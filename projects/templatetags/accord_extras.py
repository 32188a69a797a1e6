"""Display filters for the project pages. They format; they decide nothing."""

from __future__ import annotations

from decimal import Decimal

from django import template

import tasktypes

register = template.Library()


@register.filter
def task_type_name(key: str) -> str:
    try:
        return tasktypes.get(key).name
    except tasktypes.UnknownTaskType:
        return key


@register.filter
def percent(fraction: Decimal | float | None) -> str:
    """0.05 → "5%", 0.1234 → "12.34%"."""
    if fraction is None:
        return ""
    value = (Decimal(str(fraction)) * 100).normalize()
    return f"{value:f}%"


@register.filter
def duration(seconds: int | None) -> str:
    """1800 → "30 min", 5400 → "1 h 30 min", 90 → "1 min 30 s"."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{secs} s" if secs else "",
    ]
    return " ".join(p for p in parts if p) or "0 s"


@register.filter
def role_names(roles: list[str]) -> str:
    """["lead", "annotator"] → "Lead, Annotator"."""
    return ", ".join(role.capitalize() for role in roles) or "None"
