"""A project whose reliability data is known by heart, made through the
queue's and review's own services."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.queue.claim import take
from annotation.queue.submit import annotation_submit
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from review import gold, leases


@pytest.fixture
def people(make_user, project):
    """Annotators A (the project's ``annotator``), B and C."""
    out = {"A": project.memberships.get(is_annotator=True).user}
    for name in ("B", "C"):
        out[name] = make_user(f"ann-{name}")
        services.membership_set(project=project, user=out[name], roles=["annotator"])
    return out


@pytest.fixture
def submit_to(project):
    """Submit ``value`` by ``user`` on the item with ``text`` (imported on
    first use), through the queue's services."""

    def submit(user, text: str, value) -> Item:
        config = services.project_config(project).config
        if not Item.objects.filter(project=project, data__text=text).exists():
            items_create(project=project, rows=[ItemRow({"text": text})], config=config)
        item = Item.objects.get(project=project, data__text=text)
        with transaction.atomic():
            assignment = take(project, user, item.pk, timezone.now())
        annotation_submit(assignment=assignment, user=user, value=value)
        item.refresh_from_db()
        return item

    return submit


@pytest.fixture
def adjudicate(project, reviewer):
    """The reviewer resolves the item with ``text`` to ``value``."""

    def resolve(text: str, value) -> None:
        claim = leases.review_claim(project=project, user=reviewer)
        assert claim.review.item.data["text"] == text
        gold.review_resolve(review=claim.review, user=reviewer, value=value, reason="decided")

    return resolve


@pytest.fixture
def seven_items(project, lead, people, submit_to, adjudicate):
    """Seven items: three under guideline v1, two under v2, one with one
    annotation under each (mixed), one with a single annotation; two
    disagreements adjudicated. Pair κ: A–B 0.40 on three items, A–C 1.00 on
    two, B–C 0.00 on one."""
    A, B, C = people["A"], people["B"], people["C"]
    services.guideline_publish(project=project, user=lead, body="v1", note="v1")
    for text, a, b in (("one", "pos", "pos"), ("two", "pos", "neg"), ("three", "neg", "neg")):
        submit_to(A, text, a)
        submit_to(B, text, b)
    submit_to(A, "six", "pos")
    services.guideline_publish(project=project, user=lead, body="v2", note="v2")
    submit_to(C, "six", "pos")
    for text, (x, a), (y, b) in (
        ("four", (A, "neu"), (C, "neu")),
        ("five", (B, "pos"), (C, "neg")),
    ):
        submit_to(x, text, a)
        submit_to(y, text, b)
    submit_to(A, "seven", "neg")
    adjudicate("two", "neg")
    adjudicate("five", "pos")
    return project
