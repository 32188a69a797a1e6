"""Dataset versions: one immutable export of a project's gold records."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from items.models import Item
from projects.models import Job, Project


class DatasetVersion(models.Model):
    """An export: its parameters, the job that writes it, and once that job
    succeeded, its files, hashes, counts and datasheet.

    ``request_key`` is a fingerprint of the normalised parameters and of the
    project's gold at request time: the unique (project, request_key) makes
    an identical request return this version instead of a second export
    (SECURITY.md E9). Everything but the job pointer is written once, in the
    job's final transaction (``succeeded_at`` set with it), so a version is
    never shown as done with partial files (F6).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_versions")
    # The job writing the version; a failed version retried by an identical
    # request gets a new job.
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, related_name="+")
    # Names the version's folder in storage: exports/<project>/<uuid>/.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    format = models.CharField(max_length=20)
    params = models.JSONField()
    request_key = models.CharField(max_length=64)
    gold_state = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    records = models.BigIntegerField(default=0)
    # {"splits": {split: n}, "labels": {label: n}, "labels_by_split": {split: {label: n}}}
    counts = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    datasheet = models.JSONField(default=dict, blank=True)
    datasheet_sha256 = models.CharField(max_length=64, blank=True)
    # [{"name", "split", "size", "sha256"}] for data files, extra files, the
    # manifest, the datasheet and the zip, names relative to the folder.
    files = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "request_key"], name="dataset_version_request_unique"
            )
        ]
        indexes = [models.Index(fields=["project", "-id"], name="dataset_version_by_project")]

    def __str__(self) -> str:
        return f"dataset version {self.pk} of {self.project_id}"

    @property
    def status(self) -> str:
        if self.succeeded_at is not None:
            return "succeeded"
        return self.job.status if self.job is not None else "failed"

    @property
    def folder(self) -> str:
        return f"exports/{self.project_id}/{self.uuid.hex}/"

    def file(self, *, split: str | None = None, name: str | None = None) -> dict | None:
        for entry in self.files:
            if (split is not None and entry.get("split") == split) or (
                name is not None and entry["name"] == name
            ):
                return entry
        return None


class ItemSplit(models.Model):
    """An item's export split ("train", "test", …), assigned once at the
    item's first export with a split spec and never changed (exports.splits).

    A narrow table of its own rather than a column on the item: assigning a
    million splits is an INSERT of small rows with one index, where
    rewriting a million wide item rows (never HOT on bulk-loaded pages)
    took most of the first export's time. The primary key is the item, so an
    item has at most one split."""

    # No foreign key in the database: its check locks every referenced item
    # row (FOR KEY SHARE writes the lock into each item's page), which at a
    # million items cost as much as the UPDATE this table replaces. Rows are
    # written only by splits_assign, for items it read in the same
    # statement; items are deleted through the ORM, which deletes these.
    item = models.OneToOneField(
        Item,
        on_delete=models.CASCADE,
        primary_key=True,
        db_constraint=False,
        related_name="assigned_split",
    )
    split = models.CharField(max_length=40)

    def __str__(self) -> str:
        return f"item {self.item_id}: {self.split}"
