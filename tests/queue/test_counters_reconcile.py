"""The counts pages show on every render (left for you, done today, items by
state) come from counters kept in the queue's transactions, not from a count
over items, and equal a recount; the periodic reconcile reports injected
drift and fixes it (DESIGN.md, "The queue")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Annotation, Assignment
from annotation.queue.release import leases_expire
from annotation.reconcile import counter_reconciled, counters_expected, counters_reconcile
from annotation.selectors import annotator_progress
from annotation.tasks import reconcile_counters
from items.models import Item, ItemState
from projects.counters import counter_add, counters_for
from projects.models import ProjectCounter

from .helpers import claim, later, skip, submit, undo

pytestmark = pytest.mark.django_db


def recount_progress(project, user) -> dict:
    """annotator_progress's figures, counted from the rows."""
    items = Item.objects.filter(project=project)
    done_open = (
        Assignment.objects.filter(
            project=project, annotator=user, state__in=["submitted", "skipped"], item__state="open"
        )
        .values("item_id")
        .distinct()
        .count()
    )
    by_state = {state: items.filter(state=state).count() for state in ItemState}
    return {
        "left_for_you": by_state["open"] - done_open,
        "done_today": Annotation.objects.filter(
            project=project, annotator=user, created_at__date=timezone.now().date()
        ).count(),
        "submitted": Annotation.objects.filter(project=project, annotator=user).count(),
        "skipped": Assignment.objects.filter(
            project=project, annotator=user, state="skipped"
        ).count(),
        "items": {**by_state, "total": items.count()},
    }


def reconciled_counters(project) -> dict[str, int]:
    return {
        name: value
        for name, value in counters_for([project.pk])[project.pk].items()
        if counter_reconciled(name) and value
    }


def recount(project) -> dict[str, int]:
    return {name: value for name, value in counters_expected(project).items() if value}


@pytest.fixture
def busy_project(project, annotator, annotators, api_for, add_items):
    """Some of everything: submissions, a compared item, a skip, a
    deferral, an undo, an expired lease."""
    add_items(project, 8)
    a, b = api_for(annotator), api_for(annotators[0])
    for _ in range(2):
        submit(a, claim(a, project).json()["id"], "pos")
        submit(b, claim(b, project).json()["id"], "neg")
    skip(a, claim(a, project).json()["id"])
    later(a, claim(a, project).json()["id"])
    last = submit(a, claim(a, project).json()["id"], "neu").json()
    undo(a, last["id"])
    submit(a, last["assignment"], "pos")
    lease = claim(b, project).json()
    Assignment.objects.filter(pk=lease["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    leases_expire()
    return project


def test_progress_comes_from_counters_in_one_query_and_equals_a_recount(
    busy_project, annotator, annotators, django_assert_num_queries
):
    for person in (annotator, annotators[0]):
        with django_assert_num_queries(1):
            progress = annotator_progress(busy_project, person)
        assert progress == recount_progress(busy_project, person), person
    mine = annotator_progress(busy_project, annotator)
    assert (mine["submitted"], mine["skipped"], mine["done_today"]) == (3, 1, 3)
    assert mine["items"]["review"] == 2  # both compared items disagreed
    assert reconciled_counters(busy_project) == recount(busy_project)


def test_skipping_an_ended_lease_on_an_item_others_completed_keeps_counters_right(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 2)
    a = api_for(annotator)
    lease = claim(a, project).json()
    Assignment.objects.filter(pk=lease["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    leases_expire()
    for person in annotators[:2]:
        other = api_for(person)
        got = claim(other, project).json()
        assert got["item"]["id"] == lease["item"]["id"]
        submit(other, got["id"], "pos")
    assert Item.objects.get(pk=lease["item"]["id"]).state == "gold"

    assert skip(a, lease["id"]).status_code == 200

    assert reconciled_counters(project) == recount(project)
    assert annotator_progress(project, annotator) == recount_progress(project, annotator)


def test_reconcile_reports_injected_drift_and_fixes_it(busy_project, annotator):
    honest = reconciled_counters(busy_project)
    counter_add(busy_project.pk, "items:open", 5)
    counter_add(busy_project.pk, f"annotator:{annotator.pk}:submitted", -2)
    ProjectCounter.objects.filter(project=busy_project, name="skips:total").delete()

    drift = counters_reconcile(busy_project)

    assert drift == {
        "items:open": {"stored": honest["items:open"] + 5, "counted": honest["items:open"]},
        f"annotator:{annotator.pk}:submitted": {"stored": 1, "counted": 3},
        "skips:total": {"stored": 0, "counted": 1},
    }
    assert reconciled_counters(busy_project) == honest == recount(busy_project)
    assert counters_reconcile(busy_project) == {}


def test_the_hourly_task_reports_drift_per_project(busy_project):
    counter_add(busy_project.pk, "annotations:total", 1)
    report = reconcile_counters()
    assert set(report) == {str(busy_project.pk)}
    assert set(report[str(busy_project.pk)]) == {"annotations:total"}
    assert reconcile_counters() == {}
