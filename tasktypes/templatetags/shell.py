"""The workspace shell's tag: every task type's JS module, for base.html
(htmx runs no script it swaps in, so a page loads them all up front)."""

from __future__ import annotations

from django import template

import tasktypes

register = template.Library()


@register.simple_tag
def task_type_scripts() -> list[str]:
    scripts = (tasktypes.get(key).script for key in tasktypes.keys())
    return sorted({script for script in scripts if script})
