"""Review as a state machine (SECURITY.md A8, E2, E10): Hypothesis drives
random sequences of claim, blind label, resolve, give back, lease expiry and
re-adjudication (with current or stale revisions) by two reviewers through
the services; after every step the rules hold, counted in the database:

* at most one active review per item and per reviewer;
* a gold record's revisions are 1..revision with none missing, and the
  record equals its last revision;
* an item is gold or excluded exactly when its gold record says so, and an
  item still in review has no gold record;
* feedback points at the current revision, exactly for the annotations the
  current gold overrules;
* the counters equal a recount.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max
from django.http import Http404
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from accord.errors import Conflict, InvalidInput
from annotation.models import Annotation
from annotation.queue.claim import NothingLeft, take
from annotation.queue.submit import annotation_submit
from annotation.reconcile import counter_reconciled, counters_expected
from items.models import Item, ItemState
from items.services import ItemRow, items_create
from projects import services
from projects.counters import counters_for
from review import gold as gold_service
from review import leases
from review.models import Feedback, GoldRecord, GoldRevision, Review, ReviewState
from tests.conftest import CLASSIFICATION_CONFIG

pytestmark = pytest.mark.django_db

WHO = st.integers(min_value=0, max_value=1)
VALUES = st.sampled_from(["pos", "neg", "neu"])
KINDS = st.sampled_from(["value", "accept", "exclude"])
REFUSED = (Conflict, InvalidInput, PermissionDenied, Http404)
_names = itertools.count()


class ReviewMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        run = next(_names)
        make = get_user_model().objects.create_user
        lead = make(username=f"rm-lead-{run}")
        self.project = services.project_create(
            user=lead, name="Review machine", task_type="classification",
            config=CLASSIFICATION_CONFIG,
        )  # fmt: skip
        annotators = [make(username=f"rm-a{i}-{run}") for i in range(2)]
        for person in annotators:
            services.membership_set(project=self.project, user=person, roles=["annotator"])
        self.reviewers = [make(username=f"rm-r{i}-{run}") for i in range(2)]
        for person in self.reviewers:
            services.membership_set(project=self.project, user=person, roles=["reviewer"])
        pairs = [("pos", "neg"), ("neg", "neu"), ("pos", "neu")]
        for n, values in enumerate(pairs):
            self._annotate(f"disputed {n}", annotators, values)
        services.project_update(project=self.project, user=lead, audit_sample=1)
        self.project.refresh_from_db()
        self._annotate("audited", annotators, ("pos", "pos"))
        self.items = list(Item.objects.filter(project=self.project).order_by("pk"))

    def _annotate(self, text, people, values):
        config = services.project_config(self.project).config
        items_create(project=self.project, rows=[ItemRow({"text": text})], config=config)
        item = Item.objects.get(project=self.project, data__text=text)
        for person, value in zip(people, values, strict=True):
            with transaction.atomic():
                assignment = take(self.project, person, item.pk, timezone.now())
            annotation_submit(assignment=assignment, user=person, value=value)

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _latest(self, who: int) -> Review | None:
        return Review.objects.filter(reviewer=self.reviewers[who]).order_by("-pk").first()

    def _attempt(self, fn, **kwargs):
        try:
            with transaction.atomic():
                return fn(**kwargs)
        except REFUSED:
            return None

    # --- rules -------------------------------------------------------------------

    @rule(who=WHO)
    def claim(self, who):
        try:
            with transaction.atomic():
                got = leases.review_claim(project=self.project, user=self.reviewers[who])
        except NothingLeft:
            return
        assert got.review.state == ReviewState.ACTIVE
        assert Item.objects.get(pk=got.review.item_id).state == ItemState.REVIEW

    @rule(who=WHO, value=VALUES)
    def blind(self, who, value):
        review = self._latest(who)
        if review is not None:
            self._attempt(leases.review_blind, review=review, user=self.reviewers[who], value=value)

    @rule(who=WHO, kind=KINDS, value=VALUES)
    def resolve(self, who, kind, value):
        review = self._latest(who)
        if review is None:
            return
        decision = {"reason": "because"}
        if kind == "value":
            decision["value"] = value
        elif kind == "exclude":
            decision["exclude"] = True
        else:
            first = Annotation.objects.filter(item_id=review.item_id).order_by("pk").first()
            decision["annotation"] = first.pk
        before = GoldRevision.objects.count()
        made = self._attempt(
            gold_service.review_resolve, review=review, user=self.reviewers[who], **decision
        )
        if made is None:
            assert GoldRevision.objects.count() == before
        else:
            assert GoldRevision.objects.count() == before + (1 if made[1] else 0)

    @rule(who=WHO, kind=KINDS, value=VALUES)
    def claim_label_and_resolve(self, who, kind, value):
        """The common path in one step, so random runs reach gold often."""
        self.claim(who)
        self.blind(who, value)
        self.resolve(who, kind, value)

    @rule(who=WHO)
    def give_back(self, who):
        review = self._latest(who)
        if review is not None:
            self._attempt(leases.review_release, review=review, user=self.reviewers[who])

    @rule(who=WHO)
    def lease_runs_out(self, who):
        Review.objects.filter(reviewer=self.reviewers[who], state=ReviewState.ACTIVE).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

    @rule(who=WHO, index=st.integers(0, 3), value=VALUES, stale=st.booleans())
    def adjudicate(self, who, index, value, stale):
        gold = GoldRecord.objects.filter(item=self.items[index]).first()
        if gold is None:
            return
        revision = gold.revision - 1 if stale else gold.revision
        made = self._attempt(
            gold_service.gold_adjudicate, gold=gold, user=self.reviewers[who],
            revision=revision, value=value, reason="again",
        )  # fmt: skip
        gold.refresh_from_db()
        if stale:
            assert made is None and gold.revision == revision + 1
        else:
            assert made is not None and gold.revision == revision + 1 and gold.value == value

    # --- invariants ----------------------------------------------------------------

    @invariant()
    def one_reviewer_per_item_and_one_item_per_reviewer(self):
        active = Review.objects.filter(project=self.project, state=ReviewState.ACTIVE)
        assert not active.values("item").annotate(n=Count("id")).filter(n__gt=1).exists()
        assert not active.values("reviewer").annotate(n=Count("id")).filter(n__gt=1).exists()

    @invariant()
    def gold_records_equal_their_last_revision(self):
        for gold in GoldRecord.objects.filter(project=self.project):
            numbers = list(gold.revisions.order_by("number").values_list("number", flat=True))
            assert numbers == list(range(1, gold.revision + 1))
            last = gold.revisions.get(number=gold.revision)
            assert (last.value, last.excluded, last.source) == (
                gold.value,
                gold.excluded,
                gold.source,
            )

    # The invariants run after every step: each reads the project's rows in
    # a few queries rather than a few per item.
    @invariant()
    def item_states_follow_gold(self):
        golds = {g.item_id: g for g in GoldRecord.objects.filter(project=self.project)}
        under_review = set(
            Review.objects.filter(project=self.project, state=ReviewState.ACTIVE).values_list(
                "item_id", flat=True
            )
        )
        for item in Item.objects.filter(project=self.project):
            gold = golds.get(item.pk)
            if gold is None:
                assert item.state == ItemState.REVIEW
            else:
                assert item.state == (ItemState.EXCLUDED if gold.excluded else ItemState.GOLD)
                assert item.pk not in under_review or item.state == ItemState.REVIEW

    @invariant()
    def feedback_matches_the_current_gold(self):
        latest = dict(
            GoldRevision.objects.filter(project=self.project)
            .values_list("gold__item_id")
            .annotate(last=Max("id"))
        )
        feedback: dict[int, Feedback] = {}
        for note in Feedback.objects.filter(annotation__item__project=self.project).order_by("pk"):
            feedback.setdefault(note.annotation_id, note)  # the first, as .first() would give
        annotations: dict[int, list[Annotation]] = {}
        for annotation in Annotation.objects.filter(item__project=self.project):
            annotations.setdefault(annotation.item_id, []).append(annotation)
        for gold in GoldRecord.objects.filter(project=self.project):
            for annotation in annotations.get(gold.item_id, []):
                note = feedback.get(annotation.pk)
                overruled = not gold.excluded and annotation.value != gold.value
                assert (note is not None) == overruled
                if note is not None:
                    assert note.gold_revision_id == latest[gold.item_id]

    @invariant()
    def counters_equal_a_recount(self):
        stored = {
            k: v
            for k, v in counters_for([self.project.pk])[self.project.pk].items()
            if counter_reconciled(k) and v
        }
        assert stored == {k: v for k, v in counters_expected(self.project).items() if v}


def test_random_sequences_keep_the_review_rules():
    run_state_machine_as_test(
        ReviewMachine,
        settings=hsettings(
            max_examples=15,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=True,
        ),
    )
