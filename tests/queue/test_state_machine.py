"""The queue as a state machine (SECURITY.md A8): Hypothesis drives random
sequences of claim, submit, skip, later, draft, undo, edit and lease expiry
by two or three annotators through the services; after every step the rules
hold, counted in the database:

* the queue's invariants (tests/queue/helpers.queue_violations): never more
  than overlap submitted, compared items have exactly overlap, free slots
  match the holders, one lease per annotator, no item twice per annotator;
* a claim never hands out an item its annotator submitted or skipped, and
  says "nothing left" only when nothing is;
* a submitted value changes only by edit or undo, and once the item was
  compared both are refused (409) and the value stays;
* the counters the pages show equal a recount.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from accord.errors import Conflict
from annotation.models import Annotation, Assignment
from annotation.queue.claim import NothingLeft, assignment_claim
from annotation.queue.release import (
    assignment_draft,
    assignment_later,
    assignment_skip,
    leases_expire,
)
from annotation.queue.revisions import annotation_edit, annotation_undo
from annotation.queue.submit import annotation_submit
from annotation.reconcile import counter_reconciled, counters_expected
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from projects.counters import counters_for
from tests.conftest import CLASSIFICATION_CONFIG

from .helpers import queue_violations

pytestmark = pytest.mark.django_db

WHO = st.integers(min_value=0, max_value=2)
VALUES = st.sampled_from(["pos", "neg", "neu"])
_names = itertools.count()


class QueueMachine(RuleBasedStateMachine):
    overlap = 2
    annotators = 3
    items = 3

    def __init__(self):
        super().__init__()
        # Each run in a savepoint of the test's transaction, rolled back after.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        run = next(_names)
        make = get_user_model().objects.create_user
        lead = make(username=f"sm-lead-{run}")
        self.project = services.project_create(
            user=lead,
            name="Machine",
            task_type="classification",
            config=CLASSIFICATION_CONFIG,
            overlap=self.overlap,
        )
        self.people = [make(username=f"sm-{run}-{i}") for i in range(self.annotators)]
        for person in self.people:
            services.membership_set(project=self.project, user=person, roles=["annotator"])
        items_create(
            project=self.project,
            rows=[ItemRow({"text": f"text {i}"}) for i in range(self.items)],
            config=CLASSIFICATION_CONFIG,
        )
        # The model: what each annotator finished, as the API told them.
        self.submitted: list[dict[int, str]] = [{} for _ in self.people]  # item → value
        self.skipped: list[set[int]] = [set() for _ in self.people]

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------

    def _who(self, annotator_id: int) -> int:
        return next(i for i, p in enumerate(self.people) if p.pk == annotator_id)

    # --- rules -----------------------------------------------------------------------
    # Claims put their assignment ids in a bundle; the other rules act on one
    # drawn from it, whatever state it is in by then (active, ended, done).

    leases = Bundle("leases")

    @rule(target=leases, who=WHO)
    def claim(self, who):
        who %= self.annotators
        person = self.people[who]
        try:
            got = assignment_claim(project=self.project, user=person)
        except NothingLeft as empty:
            self._check_nothing_left(who, empty.reason)
            return multiple()
        item = got.assignment.item_id
        assert item not in self.submitted[who], "offered an item they submitted"
        assert item not in self.skipped[who], "offered an item they skipped"
        assert got.assignment.state == "active"
        return got.assignment.pk

    def _check_nothing_left(self, who: int, reason: str) -> None:
        person = self.people[who]
        takeable = (
            Item.objects.filter(project=self.project, state="open", free_slots__gt=0)
            .exclude(
                assignments__annotator=person,
                assignments__state__in=["active", "submitted", "skipped"],
            )
            .exists()
        )
        assert not takeable, "nothing left, yet an item with a free slot was theirs to take"
        if reason == "done":
            leased_elsewhere = (
                Assignment.objects.filter(project=self.project, state="active", item__state="open")
                .exclude(annotator=person)
                .exclude(
                    item__assignments__annotator=person,
                    item__assignments__state__in=["submitted", "skipped"],
                )
                .exists()
            )
            assert not leased_elsewhere, "nothing-left while others hold leases that may return"

    @rule(lease=leases, value=VALUES)
    def submit(self, lease, value):
        assignment = Assignment.objects.get(pk=lease)
        who, item = self._who(assignment.annotator_id), Item.objects.get(pk=assignment.item_id)
        state = assignment.state
        try:
            done = annotation_submit(assignment=assignment, user=self.people[who], value=value)
        except Conflict:
            if state == "submitted":
                assert self.submitted[who][item.pk] != value
            else:
                assert (
                    state == "skipped"
                    or item.state != "open"
                    or (state != "active" and item.free_slots == 0)
                ), f"a {state} submit refused with a free slot"
            return
        assert state != "skipped", "a skipped item was submitted"
        if state == "submitted":
            assert not done.created and done.annotation.value == self.submitted[who][item.pk]
        else:
            assert done.created
            self.submitted[who][item.pk] = value

    @rule(lease=leases)
    def skip(self, lease):
        assignment = Assignment.objects.get(pk=lease)
        who = self._who(assignment.annotator_id)
        try:
            assignment_skip(assignment=assignment, user=self.people[who], reason="cannot tell")
        except Conflict:
            assert assignment.state == "submitted"
            return
        assert assignment.item_id not in self.submitted[who]
        self.skipped[who].add(assignment.item_id)

    @rule(lease=leases)
    def later(self, lease):
        assignment = Assignment.objects.get(pk=lease)
        try:
            assignment_later(
                assignment=assignment, user=self.people[self._who(assignment.annotator_id)]
            )
        except Conflict:
            assert assignment.state != "active"

    @rule(lease=leases, value=VALUES)
    def draft(self, lease, value):
        assignment = Assignment.objects.get(pk=lease)
        try:
            saved = assignment_draft(
                assignment=assignment,
                user=self.people[self._who(assignment.annotator_id)],
                value=value,
            )
        except Conflict:
            assert assignment.state != "active"
            return
        assert saved.state == "active" and saved.draft == value

    @rule(lease=leases, value=VALUES)
    def edit(self, lease, value):
        annotation = Annotation.objects.filter(assignment_id=lease).first()
        if annotation is None:
            return
        who = self._who(annotation.annotator_id)
        compared = Item.objects.get(pk=annotation.item_id).compared_at is not None
        try:
            annotation_edit(annotation=annotation, user=self.people[who], value=value)
        except Conflict:
            assert compared, "an edit refused before the item was compared"
            assert Annotation.objects.get(pk=annotation.pk).value == annotation.value
            return
        assert not compared, "an annotation was edited after the item was compared (A8)"
        self.submitted[who][annotation.item_id] = value

    @rule(lease=leases)
    def undo(self, lease):
        annotation = Annotation.objects.filter(assignment_id=lease).first()
        if annotation is None:
            return
        who = self._who(annotation.annotator_id)
        compared = Item.objects.get(pk=annotation.item_id).compared_at is not None
        try:
            back = annotation_undo(annotation=annotation, user=self.people[who])
        except Conflict:
            assert compared, "an undo refused before the item was compared"
            assert Annotation.objects.filter(pk=annotation.pk).exists()
            return
        assert not compared, "an annotation was withdrawn after the item was compared (A8)"
        assert back.state == "active" and back.draft == annotation.value
        del self.submitted[who][annotation.item_id]

    @rule(lease=leases, sweep=st.booleans())
    def expire(self, lease, sweep):
        Assignment.objects.filter(pk=lease, state="active").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        if sweep:
            leases_expire(project_id=self.project.pk)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def queue_rules_hold(self):
        assert queue_violations(self.project) == []

    @invariant()
    def model_matches_the_rows(self):
        stored: list[dict[int, str]] = [{} for _ in self.people]
        for annotator_id, item_id, value in Annotation.objects.filter(
            project=self.project
        ).values_list("annotator_id", "item_id", "value"):
            stored[self._who(annotator_id)][item_id] = value
        assert stored == self.submitted
        skipped: list[set[int]] = [set() for _ in self.people]
        for annotator_id, item_id in Assignment.objects.filter(
            project=self.project, state="skipped"
        ).values_list("annotator_id", "item_id"):
            skipped[self._who(annotator_id)].add(item_id)
        assert skipped == self.skipped

    @invariant()
    def counters_equal_a_recount(self):
        stored = {
            name: value
            for name, value in counters_for([self.project.pk])[self.project.pk].items()
            if counter_reconciled(name) and value
        }
        counted = {k: v for k, v in counters_expected(self.project).items() if v}
        assert stored == counted


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.ACCORD_RATES = {"claim": (10**6, 60), "skip": (10**6, 60)}


class PairMachine(QueueMachine):
    """Two annotators, one annotation an item: short paths to a completed
    item that the other still has an ended lease on."""

    overlap = 1
    annotators = 2


@pytest.mark.parametrize("machine", [QueueMachine, PairMachine], ids=["three-of-2", "two-of-1"])
def test_random_sequences_keep_the_queue_rules(machine):
    run_state_machine_as_test(
        machine,
        settings=hsettings(
            max_examples=8,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=True,
        ),
    )
