"""Exact overlap with many annotators claiming and submitting at once, each
in its own thread with its own database connection; checked by counting the
rows afterwards (DESIGN.md, "The queue": exact overlap, no repeats)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, transaction

from annotation.models import Annotation, Assignment
from items.models import Item
from projects import services

from .helpers import claim, later, queue_violations, skip, submit, together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    # Threads retry "all leased" answers; the claim throttle is tested elsewhere.
    settings.ACCORD_RATES = {"claim": (100_000, 60), "skip": (100_000, 60)}


def work_until_done(client, project, *, rng=None, skip_share=0.0, later_share=0.0):
    """An annotator's loop: claim, then submit (or skip, or later) until the
    queue says nothing is left for them. Returns the item ids they were
    given (resumed leases not counted again) and what they did."""
    given: list[int] = []
    actions: list[tuple[str, int]] = []
    for _ in range(2000):
        answer = claim(client, project)
        if answer.status_code == 204:
            if answer["Accord-Reason"] == "nothing-left":
                return given, actions
            assert answer["Accord-Reason"] == "all-leased"
            time.sleep(0.01)
            continue
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert not body["resumed"], "a lease was left behind"
        given.append(body["item"]["id"])
        roll = rng.random() if rng else 1.0
        if roll < skip_share:
            done = skip(client, body["id"])
            assert done.status_code == 200, done.content
            actions.append(("skip", body["item"]["id"]))
        elif roll < skip_share + later_share:
            done = later(client, body["id"])
            assert done.status_code == 200, done.content
            actions.append(("later", body["item"]["id"]))
        else:
            done = submit(client, body["id"], rng.choice(["pos", "neg"]) if rng else "pos")
            assert done.status_code == 201, done.content
            actions.append(("submit", body["item"]["id"]))
    raise AssertionError("the queue never said nothing-left")


def test_many_annotators_at_once_fill_every_item_exactly(
    make_project, lead, make_user, api_for, add_items
):
    project = make_project(lead, overlap=3)
    people = [make_user(f"fast{i}") for i in range(6)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    add_items(project, 24)
    clients = [api_for(person) for person in people]

    results = together(*[lambda c=c: work_until_done(c, project) for c in clients])

    for given, _ in results:
        assert len(given) == len(set(given)), "an annotator was given an item twice"
    assert sum(len(given) for given, _ in results) == 24 * 3
    assert queue_violations(project) == []
    per_item = {
        item.pk: Annotation.objects.filter(item=item).count()
        for item in Item.objects.filter(project=project)
    }
    assert set(per_item.values()) == {3}, per_item
    assert set(Item.objects.filter(project=project).values_list("state", flat=True)) == {"gold"}
    assert not Assignment.objects.filter(project=project, state="active").exists()


def test_skips_and_laters_at_once_never_overfill_and_never_repeat(
    make_project, lead, make_user, api_for, add_items
):
    project = make_project(lead, overlap=2)
    people = [make_user(f"mixed{i}") for i in range(5)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    add_items(project, 20)
    clients = [api_for(person) for person in people]
    rngs = [random.Random(seed) for seed in range(len(clients))]  # noqa: S311 - test data

    results = together(
        *[
            lambda c=c, r=r: work_until_done(c, project, rng=r, skip_share=0.15, later_share=0.15)
            for c, r in zip(clients, rngs, strict=True)
        ]
    )

    assert queue_violations(project) == []
    for given, actions in results:
        finished = [item for kind, item in actions if kind in ("submit", "skip")]
        # Submitted and skipped items never come back; a deferred one comes
        # back once the rest is done, and may then be finished.
        assert len(finished) == len(set(finished)), actions
        deferred = [item for kind, item in actions if kind == "later"]
        for item in set(given):
            assert given.count(item) <= 1 + deferred.count(item)
    # Every item ends with its overlap, or cannot reach it because all but
    # fewer than its free slots skipped it.
    for item in Item.objects.filter(project=project):
        submitted = Assignment.objects.filter(item=item, state="submitted").count()
        if item.state == "open":
            skipped = Assignment.objects.filter(item=item, state="skipped").count()
            assert submitted < 2 and len(people) - skipped - submitted < item.free_slots, (
                item.pk,
                submitted,
                skipped,
            )
        else:
            assert submitted == 2


def test_one_annotator_in_eight_tabs_gets_one_lease(project, annotator, api_for, add_items):
    add_items(project, 5)
    tabs = [api_for(annotator) for _ in range(8)]

    answers = together(*[lambda t=t: claim(t, project) for t in tabs])

    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sorted(a.json()["resumed"] for a in answers) == [False] + [True] * 7
    assert Assignment.objects.filter(annotator=annotator).count() == 1
    assert Item.objects.filter(project=project, free_slots=1).count() == 1


@pytest.mark.django_db  # one connection is enough here
def test_reload_resumes_the_same_lease_with_its_draft(project, annotator, api_for, add_items):
    add_items(project, 3)
    tab = api_for(annotator)
    first = claim(tab, project).json()
    saved = tab.post(
        f"/api/v1/assignments/{first['id']}/draft/", {"value": "neu"}, format="json"
    ).json()

    again = claim(api_for(annotator), project).json()

    assert again["id"] == first["id"] and again["resumed"] is True
    assert again["item"] == first["item"]
    assert again["draft"] == "neu"
    assert again["draft_saved_at"] == saved["draft_saved_at"]
    assert tab.get(f"/api/v1/assignments/{first['id']}/").json()["draft"] == "neu"


def test_a_returned_slot_whose_item_is_locked_is_not_nothing_left(
    make_project, lead, make_user, api_for, add_items
):
    """A slot that came back while another claim holds its item's row is
    passed over by this claim (SKIP LOCKED), and the answer must be "try
    again", not "nothing left": the annotator would stop with an item still
    open to them (what the concurrent skips above ran into under load)."""
    project = make_project(lead, overlap=2)
    a, b, x = (make_user(f"returned{i}") for i in range(3))
    for person in (a, b, x):
        services.membership_set(project=project, user=person, roles=["annotator"])
    add_items(project, 2)
    ca, cb, cx = api_for(a), api_for(b), api_for(x)
    first, second = claim(ca, project).json(), claim(cb, project).json()
    held = first["item"]["id"]
    assert second["item"]["id"] == held
    mine = claim(cx, project).json()
    assert mine["item"]["id"] != held  # its cursor is now past the held item
    assert submit(cx, mine["id"], "pos").status_code == 201
    assert submit(ca, first["id"], "pos").status_code == 201
    assert skip(cb, second["id"]).status_code == 200  # the slot comes back

    locked, release = threading.Event(), threading.Event()

    def another_claim_in_flight():
        try:
            with transaction.atomic():
                Item.objects.select_for_update().get(pk=held)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=another_claim_in_flight)
    holder.start()
    try:
        assert locked.wait(10)
        answer = claim(cx, project)
    finally:
        release.set()
        holder.join()
    assert answer.status_code == 204
    assert answer["Accord-Reason"] == "all-leased"
    again = claim(cx, project)
    assert again.status_code == 200 and again.json()["item"]["id"] == held
