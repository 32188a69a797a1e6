"""The order the queue hands items out: import order, random with a seed
(the same for a seed, another for another seed), or a numeric priority set
through the bulk priority API; changing the order, the seed or the overlap
needs no re-import: a requeue job re-ranks items, resizes their slots and
moves every annotator's cursor (DESIGN.md, "The queue")."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Item
from annotation.queue.ranks import random_rank
from annotation.reconcile import counters_reconcile
from projects import services
from projects.models import Job

from .helpers import claim, queue_violations, submit


def texts_in_claim_order(client, project, n: int | None = None) -> list[str]:
    """Claim and submit until nothing is left (or ``n`` times); the texts."""
    out = []
    while n is None or len(out) < n:
        answer = claim(client, project)
        if answer.status_code == 204:
            assert answer["Accord-Reason"] == "nothing-left"
            break
        out.append(answer.json()["item"]["data"]["text"])
        assert submit(client, answer.json()["id"], "pos").status_code == 201
    return out


def seeded_order(project, seed: int, texts: list[str]) -> list[str]:
    hashes = dict(Item.objects.filter(project=project).values_list("data__text", "content_hash"))
    return sorted(texts, key=lambda t: (random_rank(seed, hashes[t]), t))


def requeue_job(project) -> Job:
    return Job.objects.filter(project=project, kind="requeue").latest("pk")


def patch(client, project, **values):
    answer = client.patch(f"/api/v1/projects/{project.pk}/", values, format="json")
    assert answer.status_code == 200, answer.content
    return answer


@pytest.mark.django_db
def test_import_order_is_the_order_items_came_in(project, annotator, api_for, add_items):
    add_items(project, 6)
    assert texts_in_claim_order(api_for(annotator), project) == [f"item {i}" for i in range(6)]


@pytest.mark.django_db
def test_a_random_order_is_fixed_by_its_seed(make_project, lead, annotator, api_for, add_items):
    orders = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        project = make_project(lead, name=name, queue_order="random", queue_seed=seed)
        services.membership_set(project=project, user=annotator, roles=["annotator"])
        add_items(project, 8)
        orders[name] = texts_in_claim_order(api_for(annotator), project)
        assert orders[name] == seeded_order(project, seed, orders[name])
    assert orders["a"] == orders["b"]
    assert orders["a"] != orders["c"]
    assert sorted(orders["a"]) == sorted(orders["c"])


@pytest.mark.django_db(transaction=True)
def test_order_and_seed_changes_requeue_through_the_worker(
    celery_worker, wait_for_job, project, lead, annotator, api_for, add_items
):
    add_items(project, 10)
    a, boss = api_for(annotator), api_for(lead)
    done = texts_in_claim_order(a, project, n=2)
    assert done == ["item 0", "item 1"]

    patch(boss, project, queue_order="random", queue_seed=11)
    job = wait_for_job(requeue_job(project).pk)

    assert job.status == "succeeded", job.error
    assert job.result["ranked"] == 10  # every open item (each still needs a second annotator)
    left = [f"item {i}" for i in range(2, 10)]
    first_half = texts_in_claim_order(a, project, n=3)
    assert first_half == seeded_order(project, 11, left)[:3]

    patch(boss, project, queue_seed=12)
    assert wait_for_job(requeue_job(project).pk).status == "succeeded"
    rest = [t for t in left if t not in first_half]
    assert texts_in_claim_order(a, project) == seeded_order(project, 12, rest)
    assert queue_violations(project) == []


@pytest.mark.django_db(transaction=True)
def test_priority_set_through_the_bulk_api_orders_the_queue_at_once(
    celery_worker, wait_for_job, make_project, lead, annotator, api_for, add_items
):
    project = make_project(lead, queue_order="priority")
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    add_items(project, 6)
    a, boss = api_for(annotator), api_for(lead)
    ids = dict(Item.objects.filter(project=project).values_list("data__text", "pk"))
    # Work already past the start of the queue: the cursor has moved.
    assert texts_in_claim_order(a, project, n=2) == ["item 0", "item 1"]

    answer = boss.post(
        f"/api/v1/projects/{project.pk}/items/priority/",
        {
            "items": [
                {"id": ids["item 5"], "priority": 0.9},
                {"id": ids["item 2"], "priority": 0.1},
                {"id": ids["item 4"], "priority": 0.5},
                {"id": ids["item 0"], "priority": 1.0},  # done already
            ]
        },
        format="json",
    )
    assert answer.status_code == 202, answer.content
    assert wait_for_job(answer.json()["job"]["id"]).status == "succeeded"

    assert texts_in_claim_order(a, project) == ["item 5", "item 4", "item 2", "item 3"]
    assert queue_violations(project) == []


@pytest.mark.django_db(transaction=True)
def test_raising_overlap_reopens_slots_even_behind_cursors(
    celery_worker, wait_for_job, project, lead, annotator, annotators, api_for, add_items
):
    add_items(project, 2)
    a, b, c = (api_for(u) for u in (annotator, *annotators[:2]))
    boss = api_for(lead)
    first = claim(a, project).json()
    submit(a, first["id"], "pos")
    held = claim(b, project).json()
    assert held["item"]["id"] == first["item"]["id"]  # now full: one submitted, one leased
    passed = claim(c, project).json()
    assert passed["item"]["id"] != first["item"]["id"]  # c's cursor moves past it
    submit(c, passed["id"], "pos")

    patch(boss, project, overlap=3)
    job = wait_for_job(requeue_job(project).pk)

    assert job.status == "succeeded", job.error
    item = Item.objects.get(pk=first["item"]["id"])
    assert (item.overlap, item.free_slots) == (3, 1)
    again = claim(c, project).json()
    assert again["item"]["id"] == first["item"]["id"]
    submit(c, again["id"], "pos")
    submit(b, held["id"], "pos")
    item.refresh_from_db()
    assert item.state == "gold"
    assert Assignment.objects.filter(item=item, state="submitted").count() == 3
    assert queue_violations(project) == []


@pytest.mark.django_db(transaction=True)
def test_lowering_overlap_compares_items_that_have_enough(
    celery_worker, wait_for_job, make_project, lead, annotator, annotators, api_for, add_items
):
    project = make_project(lead, overlap=3)
    people = [annotator, *annotators[:2]]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    add_items(project, 2)
    a, b, c = (api_for(u) for u in people)
    two = [claim(x, project).json() for x in (a, b)]
    for client, lease in zip((a, b), two, strict=True):
        submit(client, lease["id"], "neg")
    leased = claim(c, project).json()  # the third slot, still leased
    assert leased["item"]["id"] == two[0]["item"]["id"]
    one = claim(a, project).json()
    submit(a, one["id"], "pos")

    patch(api_for(lead), project, overlap=2)
    job = wait_for_job(requeue_job(project).pk)

    assert job.status == "succeeded", job.error
    assert job.result["compared"] == 1
    full = Item.objects.get(pk=two[0]["item"]["id"])
    assert (full.state, full.outcome) == ("gold", "agreed")
    assert Assignment.objects.get(pk=leased["id"]).state == "released"
    late = submit(c, leased["id"], "neg")
    assert late.status_code == 409
    other = Item.objects.get(pk=one["item"]["id"])
    assert (other.state, other.overlap, other.free_slots) == ("open", 2, 1)
    assert queue_violations(project) == []
    assert counters_reconcile(project) == {}  # the job kept the counters right


@pytest.mark.django_db(transaction=True)
def test_items_imported_later_reach_an_annotator_whose_cursor_moved_on(
    celery_worker, wait_for_job, make_project, lead, annotator, api_for, add_items
):
    """In random order a new item may sort before an annotator's cursor; the
    import moves the cursors back, so nobody misses it."""
    project = make_project(lead, queue_order="random", queue_seed=3)
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    add_items(project, 6)
    a = api_for(annotator)
    assert len(texts_in_claim_order(a, project)) == 6  # the cursor is past the end

    new = [{"text": f"late {i}"} for i in range(6)]
    answer = api_for(lead).post(f"/api/v1/projects/{project.pk}/items/", new, format="json")
    assert answer.status_code == 202, answer.content
    assert wait_for_job(answer.json()["job"]["id"]).status == "succeeded"

    assert sorted(texts_in_claim_order(a, project)) == sorted(t["text"] for t in new)
