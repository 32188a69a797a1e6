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
    ARCHIVED = "archived", "Archived"


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=Q(external_id__isnull=False),
                name="item_external_id_unique",
            ),
            models.UniqueConstraint(fields=["project", "content_hash"], name="item_content_unique"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} of {self.project_id}"


class Annotation(models.Model):
    """An annotator's submitted value for an item, with the config and
    guideline versions it was made under (set by the server)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    value = models.JSONField()
    config_version = models.PositiveIntegerField()
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], name="annotation_item_annotator_unique"
            )
        ]
        indexes = [models.Index(fields=["project", "config_version"])]

    def __str__(self) -> str:
        return f"annotation {self.pk} on item {self.item_id}"
