from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Project


class ItemState(models.TextChoices):
    OPEN = "open", "Waiting for annotation"
    REVIEW = "review", "In review"
    GOLD = "gold", "Gold"
    EXCLUDED = "excluded", "Excluded"
    # Disagreed under review policy "none": no reviewer will see it; the lead
    # decides (turning review on sends these to review).
    UNRESOLVED = "unresolved", "Disagreed, not reviewed"
    ARCHIVED = "archived", "Archived"


# An item an embedded-mode import has written but not yet published. Not one
# of ItemState's choices: nothing a user sees or filters on ever has it, and
# Item.objects leaves such rows out (annotation.importer, "Staging").
STAGED = "staged"


class ItemManager(models.Manager):
    """Every read of items through the ORM: staged rows are not items yet.
    (Related-object reads and deletion cascades use Django's plain base
    manager, so a staged row still goes with its project.)"""

    def get_queryset(self):
        return super().get_queryset().exclude(state=STAGED)


class Item(models.Model):
    """One thing to annotate. ``data`` is what the task type validated, kept
    byte-exact; ``content_hash`` is the sha256 of its canonical JSON."""

    # No index of its own: the unique (project, content_hash) index leads with
    # the project and serves every per-project lookup. A second index on the
    # project alone costs every imported row and lures the planner into
    # scanning the whole project when its statistics are stale.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    # NULL, not "", means "no external id": the unique constraint skips NULLs.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    data = models.JSONField()
    meta = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=ItemState.choices, default=ItemState.OPEN)
    priority = models.FloatField(default=0)
    # The queue's sort key (ascending, ties by id): 0 in import order, a
    # seeded hash in random order, -priority in priority order. Kept on the
    # row so the claim walks one partial index.
    rank = models.FloatField(default=0)
    # A copy of the project's overlap when the item was queued, so the
    # database can hold free_slots within it.
    overlap = models.PositiveSmallIntegerField(default=2)
    # Slots not held by an active or submitted assignment.
    free_slots = models.PositiveSmallIntegerField(default=2)
    # Set when the item had its overlap and was compared: agreed/disagreed.
    # Never shown to annotators (blind), only to leads and reviewers.
    outcome = models.CharField(max_length=16, blank=True, default="")
    compared_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ItemManager()

    class Meta:
        indexes = [
            # The claim's walk: open items with a free slot in queue order.
            models.Index(
                fields=["project", "rank", "id"],
                condition=Q(state="open", free_slots__gt=0),
                name="item_queue",
            ),
            # The review queue's order: priority, then age in review.
            models.Index(
                "project",
                models.F("priority").desc(),
                "compared_at",
                "id",
                condition=Q(state="review"),
                name="item_review_queue",
            ),
            # A staging import publishes or removes its rows through this;
            # it is empty outside an embedded-mode import.
            models.Index(fields=["project", "id"], condition=Q(state=STAGED), name="item_staged"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(free_slots__gte=0) & Q(free_slots__lte=models.F("overlap")),
                name="item_free_slots_within_overlap",
            ),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=Q(external_id__isnull=False),
                name="item_external_id_unique",
            ),
            models.UniqueConstraint(fields=["project", "content_hash"], name="item_content_unique"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} of {self.project_id}"


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


class ImportStaging(models.Model):
    """The embedded-mode import that is writing a project's items: one at a
    time per project, across the many short transactions it writes in (on
    PostgreSQL an import is one transaction under an advisory lock and never
    takes this). The holder's staged items are the project's items in state
    STAGED."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True)
    job = models.ForeignKey("projects.Job", on_delete=models.CASCADE, related_name="+")
    taken_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"import {self.job_id} staging into {self.project_id}"


class StagedUpdate(models.Model):
    """New content for an existing item (``on_conflict=update``), applied
    when its import publishes, if the item is still open and unannotated."""

    job = models.ForeignKey("projects.Job", on_delete=models.CASCADE, related_name="+")
    line = models.PositiveIntegerField()
    # The item it replaces, found at publication by the unique (project,
    # external id) index.
    external_id = models.CharField(max_length=255)
    data = models.TextField()  # canonical JSON, as the item's data column takes it
    meta = models.TextField()
    content_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"staged update of {self.external_id!r} by import {self.job_id}"
