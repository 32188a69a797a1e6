"""Shared steps for the queue tests: the API calls an annotator makes, and
the queue's invariants counted in the database (DESIGN.md, "The queue")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Count

from annotation.models import Annotation, Assignment
from items.models import Item, ItemState

OPEN = ItemState.OPEN


def claim(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/claim/")


def submit(client, assignment_id: int, value, **extra):
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submit/", {"value": value, **extra}, format="json"
    )


def skip(client, assignment_id: int, reason: str | None = "not sure what this is"):
    body = {} if reason is None else {"reason": reason}
    return client.post(f"/api/v1/assignments/{assignment_id}/skip/", body, format="json")


def later(client, assignment_id: int):
    return client.post(f"/api/v1/assignments/{assignment_id}/later/", format="json")


def draft(client, assignment_id: int, value):
    return client.post(
        f"/api/v1/assignments/{assignment_id}/draft/", {"value": value}, format="json"
    )


def edit(client, annotation_id: int, value):
    return client.patch(f"/api/v1/annotations/{annotation_id}/", {"value": value}, format="json")


def undo(client, annotation_id: int):
    return client.post(f"/api/v1/annotations/{annotation_id}/undo/", format="json")


def queue_violations(project) -> list[str]:
    """Every broken rule of the queue in ``project``, counted from the rows:

    * no item has more submitted annotations than its overlap, and an item
      that was compared has exactly its overlap;
    * an open item's free slots are its overlap minus the active and
      submitted assignments holding one;
    * annotations and submitted assignments are the same rows' two sides;
    * nobody has an item twice, or two active leases in one project.
    """
    out: list[str] = []
    by_state: dict[tuple[int, str], int] = {
        (row["item_id"], row["state"]): row["n"]
        for row in Assignment.objects.filter(project=project)
        .values("item_id", "state")
        .annotate(n=Count("id"))
    }
    notes = dict(
        Annotation.objects.filter(project=project)
        .values_list("item_id")
        .annotate(n=Count("id"))
        .values_list("item_id", "n")
    )
    items = list(Item.objects.filter(project=project).order_by("pk"))
    for item in items:
        item.submitted = by_state.get((item.pk, "submitted"), 0)
        item.active = by_state.get((item.pk, "active"), 0)
        item.held = item.submitted + item.active
        item.notes = notes.get(item.pk, 0)
    for item in items:
        name = f"item {item.pk} ({item.state})"
        if item.submitted > item.overlap:
            out.append(f"{name}: {item.submitted} submitted > overlap {item.overlap}")
        if item.notes != item.submitted:
            out.append(f"{name}: {item.notes} annotations but {item.submitted} submitted")
        if item.state == OPEN:
            if item.free_slots != item.overlap - item.held:
                out.append(
                    f"{name}: free_slots {item.free_slots}, overlap {item.overlap}, "
                    f"held {item.held}"
                )
            if item.compared_at is not None or item.outcome:
                out.append(f"{name}: open but compared")
        elif item.state in (ItemState.REVIEW, ItemState.GOLD):
            if item.submitted != item.overlap:
                out.append(f"{name}: compared with {item.submitted} of {item.overlap}")
            if item.active:
                out.append(f"{name}: compared but still leased")
    twice = (
        Assignment.objects.filter(project=project)
        .values("item_id", "annotator_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    out += [f"{row} twice" for row in twice]
    leases = (
        Assignment.objects.filter(project=project, state="active")
        .values("annotator_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    out += [f"annotator {row['annotator_id']} holds {row['n']} leases" for row in leases]
    strays = Annotation.objects.filter(project=project).exclude(assignment__state="submitted")
    out += [f"annotation {a.pk} on an assignment that is not submitted" for a in strays]
    return out


def together(*calls: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Run ``calls`` in threads released at the same moment, each on its own
    database connection (closed at its end); return their results in order,
    or raise the first exception one of them raised."""
    barrier = threading.Barrier(len(calls), timeout=timeout)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results
