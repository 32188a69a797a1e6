from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class ReviewPolicy(models.TextChoices):
    DISAGREEMENTS = "disagreements", "Disagreements only"
    ALL = "all", "All items"
    NONE = "none", "None"


class QueueOrder(models.TextChoices):
    IMPORT = "import", "Import order"
    RANDOM = "random", "Random (seeded)"
    PRIORITY = "priority", "Priority, highest first"


DEFAULT_REASON_CODES = (
    ("guideline_gap", "Guideline gap"),
    ("annotator_slip", "Annotator slip"),
    ("ambiguous_item", "Ambiguous item"),
    ("bad_item", "Bad or unusable item"),
)


def default_reason_codes() -> list[dict[str, str]]:
    return [{"key": key, "name": name} for key, name in DEFAULT_REASON_CODES]


def new_split_salt() -> str:
    return secrets.token_hex(16)


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20000)
    task_type = models.CharField(max_length=50)
    time_zone = models.CharField(max_length=64, default="UTC")
    overlap = models.PositiveSmallIntegerField(default=2)
    # None means unanimous; k means a majority of k annotations decides.
    consensus_majority = models.PositiveSmallIntegerField(null=True, blank=True)
    review_policy = models.CharField(
        max_length=20, choices=ReviewPolicy.choices, default=ReviewPolicy.DISAGREEMENTS
    )
    audit_sample = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    lease_seconds = models.PositiveIntegerField(default=1800)
    queue_order = models.CharField(
        max_length=16, choices=QueueOrder.choices, default=QueueOrder.IMPORT
    )
    queue_seed = models.PositiveIntegerField(default=0)
    # The seed of the audit draw: which agreed items still go to a reviewer.
    audit_seed = models.PositiveIntegerField(default=0)
    # Reviewers see "Annotator A/B" instead of names.
    anonymous_review = models.BooleanField(default=False)
    # The reason codes a reviewer may give: [{"key": ..., "name": ...}].
    reason_codes = models.JSONField(default=default_reason_codes)
    config_version = models.PositiveIntegerField(default=1)
    # Export splits (datasets.splits): the salt of the hash that orders items
    # into splits, random per project; and the split names of the project's
    # first split export, which later exports must keep (items never move).
    split_salt = models.CharField(max_length=64, default=new_split_salt)
    split_names = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        permissions = [
            ("view_project", "See the project, its guidelines and progress"),
            ("change_project", "Edit settings and the label schema, archive"),
            ("manage_members", "Add, change and remove members; invite"),
            ("edit_guidelines", "Edit the guideline draft and publish versions"),
            ("import_items", "Import and manage items"),
            ("annotate", "Take items from the queue and annotate them"),
            ("review", "Adjudicate disagreements"),
            ("export_data", "Export gold datasets"),
            ("view_stats", "See progress per annotator and agreement"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap__gte=1) & Q(overlap__lte=10), name="project_overlap_range"
            ),
            models.CheckConstraint(
                condition=Q(audit_sample__gte=0) & Q(audit_sample__lte=1),
                name="project_audit_sample_range",
            ),
            models.CheckConstraint(
                condition=Q(consensus_majority__isnull=True) | Q(consensus_majority__gte=1),
                name="project_consensus_majority_positive",
            ),
            models.CheckConstraint(condition=Q(lease_seconds__gte=60), name="project_lease_min"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def consensus(self) -> str | dict:
        if self.consensus_majority is None:
            return "unanimous"
        return {"majority": self.consensus_majority}


class ProjectUserObjectPermission(UserObjectPermissionBase):
    # Direct foreign key: permission rows CASCADE with the project, so a
    # reused primary key never inherits them (SECURITY.md A10).
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class ProjectGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class ConfigVersion(models.Model):
    """One immutable version of a project's label schema (task type + config)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="config_versions")
    number = models.PositiveIntegerField()
    task_type = models.CharField(max_length=50)
    config = models.JSONField()
    note = models.CharField(max_length=500, blank=True)
    impact = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="config_version_unique")
        ]
        ordering = ["project", "-number"]

    def __str__(self) -> str:
        return f"{self.project_id} config v{self.number}"


class Role(models.TextChoices):
    LEAD = "lead", "Lead"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    """Who belongs to a project and in which roles: the source of truth for
    permissions. django-guardian rows are derived from it by
    ``projects.access.sync_permissions`` in the same transaction."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    is_lead = models.BooleanField(default=False)
    is_reviewer = models.BooleanField(default=False)
    is_annotator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(is_lead=True) | Q(is_reviewer=True) | Q(is_annotator=True),
                name="membership_has_a_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id}: {','.join(self.roles)}"

    @property
    def roles(self) -> list[str]:
        out = []
        if self.is_lead:
            out.append(Role.LEAD.value)
        if self.is_reviewer:
            out.append(Role.REVIEWER.value)
        if self.is_annotator:
            out.append(Role.ANNOTATOR.value)
        return out


class Invite(models.Model):
    """A single-use, expiring invitation bound to an email, a project and roles."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField()
    roles = models.JSONField()
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invite {self.email} to {self.project_id}"


class GuidelineDraft(models.Model):
    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="guideline_draft"
    )
    body = models.TextField(blank=True, max_length=500_000)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"guideline draft of {self.project_id}"


class GuidelineVersion(models.Model):
    """A published guideline version. Immutable once written."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="guideline_versions"
    )
    number = models.PositiveIntegerField()
    body = models.TextField(max_length=500_000)
    note = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="guideline_version_unique")
        ]
        ordering = ["project", "-number"]

    def __str__(self) -> str:
        return f"{self.project_id} guidelines v{self.number}"


class ProjectCounter(models.Model):
    """Per-project counters kept in the same transactions as the rows they
    count, so pages never count over all items (DESIGN.md, the queue)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="counters")
    name = models.CharField(max_length=80)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="project_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.name}={self.value}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Job(models.Model):
    """A unit of background work and the source of truth for its state.

    The request creates the row; a Celery task (given only the id) claims
    it, reports progress on its own connection, and finishes it. Redis holds
    only the message, never the state.
    """

    FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="jobs", null=True, blank=True
    )
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The Celery task that runs the job ("" for a job run in its own
    # process, as the import command does), and when its message last
    # reached the broker (null: never, or not since it was requeued). The
    # recovery sweep sends again what the broker never got. A database
    # default, so that processes still on the previous release (between the
    # migration and their restart) can create jobs.
    task = models.CharField(max_length=200, blank=True, default="", db_default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "kind", "-created_at"]),
            models.Index(fields=["status"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(done__gte=0), name="job_done_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))
