"""Items: what there is to annotate, and the rows an embedded-mode import
holds while it writes (tables named as when they lived in annotation/)."""

from __future__ import annotations

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
        # Tables keep the names they had when items lived in the annotation app.
        db_table = "annotation_item"
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


class ImportStaging(models.Model):
    """The embedded-mode import that is writing a project's items: one at a
    time per project, across the many short transactions it writes in (on
    PostgreSQL an import is one transaction under an advisory lock and never
    takes this). The holder's staged items are the project's items in state
    STAGED."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True)
    job = models.ForeignKey("projects.Job", on_delete=models.CASCADE, related_name="+")
    taken_at = models.DateTimeField()

    class Meta:
        db_table = "annotation_importstaging"

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

    class Meta:
        db_table = "annotation_stagedupdate"

    def __str__(self) -> str:
        return f"staged update of {self.external_id!r} by import {self.job_id}"
