"""The queue's upward events go through annotation/hooks.py: exactly one
settler (review's), listeners any app connects, and no import of the apps
above from annotation's code (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from annotation import hooks
from review import gold, report_jobs, selectors, settle

ANNOTATION = Path(__file__).resolve().parents[2] / "annotation"


def test_a_second_settler_is_refused():
    settler = hooks.Provider("item settler")
    settler.register(settle.item_settle)
    with pytest.raises(ImproperlyConfigured, match="only one"):
        settler.register(lambda **kwargs: ("gold", "agreed"))


def test_settling_with_no_settler_fails_loudly():
    with pytest.raises(ImproperlyConfigured, match="no item settler"):
        hooks.Provider("item settler")(item=None)


def test_every_listener_hears_an_event_in_order():
    heard = []
    event = hooks.Event("item compared")
    event.connect(lambda *, project_id: heard.append(("first", project_id)))
    event.connect(lambda *, project_id: heard.append(("second", project_id)))
    event.send(project_id=7)
    assert heard == [("first", 7), ("second", 7)]


def test_review_registers_its_hooks_when_the_app_is_ready():
    assert hooks.item_settler.registered is settle.item_settle
    assert report_jobs.report_soon_on_commit in hooks.item_compared.listeners
    assert gold.gold_counters_expected in hooks.counters_expected.listeners
    assert hooks.item_gold.registered is gold.item_gold
    assert hooks.unseen_feedback.registered is selectors.unseen_feedback


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_annotation_imports_nothing_from_review():
    upward = {
        str(path.relative_to(ANNOTATION.parent)): sorted(
            m for m in _imported_modules(path) if m == "review" or m.startswith("review.")
        )
        for path in ANNOTATION.rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {path: found for path, found in upward.items() if found} == {}
