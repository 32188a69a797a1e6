from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from items.models import Item
from projects.models import Project


class AssignmentState(models.TextChoices):
    ACTIVE = "active", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    DEFERRED = "deferred", "Later"
    EXPIRED = "expired", "Lease expired"
    RELEASED = "released", "Released by a lead"


# States in which an assignment holds one of the item's slots.
HOLDS_SLOT = (AssignmentState.ACTIVE, AssignmentState.SUBMITTED)
# States that keep an item away from its annotator in the main queue.
EXCLUDES = (
    AssignmentState.ACTIVE,
    AssignmentState.SUBMITTED,
    AssignmentState.SKIPPED,
    AssignmentState.DEFERRED,
)


class Assignment(models.Model):
    """One annotator's lease on one item, and what became of it.

    One row per (item, annotator): a lease that expires and is taken again
    reuses the row. The constraints below keep the queue right even if the
    code that drives it has a bug (DESIGN.md, the queue).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    state = models.CharField(max_length=16, choices=AssignmentState.choices)
    # 1..overlap while the assignment holds a slot; kept after for the record.
    slot = models.PositiveSmallIntegerField()
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Rendered for this assignment and stamped on its annotation: the
    # versions the annotator saw, never taken from the client.
    config_version = models.PositiveIntegerField()
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    draft = models.JSONField(null=True, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], name="assignment_item_annotator_unique"
            ),
            models.UniqueConstraint(
                fields=["project", "annotator"],
                condition=Q(state="active"),
                name="assignment_one_active_lease",
            ),
            models.UniqueConstraint(
                fields=["item", "slot"],
                condition=Q(state__in=["active", "submitted"]),
                name="assignment_slot_unique",
            ),
            models.CheckConstraint(
                condition=Q(slot__gte=1) & Q(slot__lte=10), name="assignment_slot_range"
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(state="active"),
                name="assignment_active_leases",
            ),
            models.Index(fields=["annotator", "project", "state"], name="assignment_by_annotator"),
            models.Index(fields=["project", "state"], name="assignment_by_state"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk}: item {self.item_id} to {self.annotator_id} ({self.state})"


class QueueCursor(models.Model):
    """Where an annotator's walk through the queue starts: every open item
    before (rank, item_id) was, when passed, done by them or full. Slots that
    come back behind a cursor go through ReopenedSlot, so a claim never walks
    past the work an annotator already did."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    rank = models.FloatField()
    item_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="queue_cursor_unique")
        ]

    def __str__(self) -> str:
        return (
            f"cursor of {self.annotator_id} in {self.project_id} at ({self.rank}, {self.item_id})"
        )


class ReopenedSlot(models.Model):
    """An item whose slot came back (expiry, skip, later, release): checked
    before the cursor walk. Rows go when the item is full or closed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "item"], name="reopened_by_project")]

    def __str__(self) -> str:
        return f"reopened slot on {self.item_id}"


class Annotation(models.Model):
    """An annotator's submitted value for an item, with the config and
    guideline versions it was made under (set by the server)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    # The natural key of a submit: one annotation per assignment. Null only
    # for annotations made outside the queue (tests, migrations of old data).
    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, null=True, blank=True, related_name="annotation"
    )
    value = models.JSONField()
    config_version = models.PositiveIntegerField()
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    # Server clock from lease to submit; the client's own count of time the
    # page was active on the item; whether a pre-annotation was on screen.
    lease_to_submit_ms = models.PositiveIntegerField(null=True, blank=True)
    active_ms = models.PositiveIntegerField(null=True, blank=True)
    preannotation_shown = models.BooleanField(default=False)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], name="annotation_item_annotator_unique"
            )
        ]
        indexes = [
            models.Index(fields=["project", "config_version"]),
            models.Index(fields=["annotator", "project", "-id"], name="annotation_history"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} on item {self.item_id}"


class RevisionKind(models.TextChoices):
    SUBMIT = "submit", "Submitted"
    EDIT = "edit", "Edited"
    UNDO = "undo", "Withdrawn"


class AnnotationRevision(models.Model):
    """Every value an annotation ever had, append-only, for the lead."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="revisions")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=RevisionKind.choices)
    value = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "number"], name="annotation_revision_unique"
            )
        ]
        ordering = ["assignment", "number"]

    def __str__(self) -> str:
        return f"revision {self.number} of assignment {self.assignment_id}"
