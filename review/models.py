"""Review: the reviewer's lease on an item, gold records and their history,
and the feedback an overruled annotator sees."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Annotation
from items.models import Item
from projects.models import Project


class GoldSource(models.TextChoices):
    CONSENSUS = "consensus", "Consensus"
    ADJUDICATED = "adjudicated", "Adjudicated"
    AUDIT_CONFIRMED = "audit-confirmed", "Audit confirmed"


class ReviewKind(models.TextChoices):
    # The annotators disagreed.
    DISAGREEMENT = "disagreement", "Disagreement"
    # They agreed, and the item was drawn for audit or the policy reviews
    # everything: the reviewer labels it blind before seeing the annotations.
    AUDIT = "audit", "Audit"


class ReviewState(models.TextChoices):
    ACTIVE = "active", "Leased"
    RESOLVED = "resolved", "Resolved"
    EXPIRED = "expired", "Lease expired"
    RELEASED = "released", "Given back"


class Review(models.Model):
    """A reviewer's lease on an item in review, and what they decided.

    The database holds the queue's rules: one active lease per item (no two
    reviewers on one item) and one per (project, reviewer).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reviews")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    kind = models.CharField(max_length=16, choices=ReviewKind.choices)
    state = models.CharField(max_length=16, choices=ReviewState.choices)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The versions on the reviewer's screen, stamped on what they decide.
    config_version = models.PositiveIntegerField()
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    # An audit item's label given before the annotations were shown.
    blind_value = models.JSONField(null=True, blank=True)
    blind_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    gold_revision = models.ForeignKey(
        "GoldRevision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=Q(state="active"), name="review_one_reviewer_per_item"
            ),
            models.UniqueConstraint(
                fields=["project", "reviewer"],
                condition=Q(state="active"),
                name="review_one_active_lease",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(state="active"),
                name="review_active_leases",
            ),
            models.Index(fields=["reviewer", "project", "state"], name="review_by_reviewer"),
        ]

    def __str__(self) -> str:
        return f"review {self.pk}: item {self.item_id} by {self.reviewer_id} ({self.state})"


class GoldFields(models.Model):
    """What a gold record is at one revision: value and provenance."""

    value = models.JSONField(null=True, blank=True)
    excluded = models.BooleanField(default=False)
    source = models.CharField(max_length=20, choices=GoldSource.choices)
    # The annotations the value was decided from (ids, in submit order).
    annotation_ids = models.JSONField(default=list)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, max_length=2000)
    reason_code = models.CharField(max_length=40, blank=True)
    # The config version of the value; the guideline version it was decided
    # under, and the lowest among the annotations behind it (export filter).
    config_version = models.PositiveIntegerField()
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    min_guideline_version = models.PositiveIntegerField(null=True, blank=True)
    # The labels in dispute ("neg|pos"), for the "decided before" panel.
    dispute = models.CharField(max_length=255, blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        abstract = True


class GoldRecord(GoldFields):
    """The current gold of one item. It changes only by a new adjudication,
    which bumps ``revision`` and appends a GoldRevision."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gold")
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="gold")
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(fields=["project", "id"], name="gold_by_project"),
            models.Index(
                fields=["project", "dispute", "-decided_at"],
                condition=~Q(dispute=""),
                name="gold_precedents",
            ),
        ]

    def __str__(self) -> str:
        return f"gold {self.pk} of item {self.item_id} (revision {self.revision})"


class GoldRevision(GoldFields):
    """Every state a gold record ever had, append-only."""

    gold = models.ForeignKey(GoldRecord, on_delete=models.CASCADE, related_name="revisions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gold", "number"], name="gold_revision_unique")
        ]
        ordering = ["gold", "number"]

    def __str__(self) -> str:
        return f"revision {self.number} of gold {self.gold_id}"


class Feedback(models.Model):
    """An annotation a reviewer overruled: the annotator sees the gold value
    and the reason. One row per annotation, pointing at the gold revision
    that overruled it; gone if a later adjudication agrees with it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    annotation = models.OneToOneField(Annotation, on_delete=models.CASCADE, related_name="feedback")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback"
    )
    gold_revision = models.ForeignKey(GoldRevision, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["annotator", "project", "-id"], name="feedback_by_annotator"),
            models.Index(
                fields=["annotator", "project"],
                condition=Q(seen_at__isnull=True),
                name="feedback_unseen",
            ),
        ]

    def __str__(self) -> str:
        return f"feedback on annotation {self.annotation_id}"
