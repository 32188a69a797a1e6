"""Agreement reports, computed by the worker and read by the Agreement page and the API."""

from __future__ import annotations

from django.db import models

from projects.models import Project


class AgreementReport(models.Model):
    """One computed agreement report of a project: every figure with its n,
    as JSON, and the parameters it was computed with. The latest is shown;
    older ones stay for comparison."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reports")
    job = models.ForeignKey(
        "projects.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    # The headline, for lists and trends without opening the JSON.
    coefficient = models.CharField(max_length=40)
    value = models.FloatField(null=True, blank=True)
    annotations = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    # What the data looked like (counters), so the schedule skips projects
    # whose data has not changed since.
    fingerprint = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict)
    result = models.JSONField(default=dict)

    class Meta:
        # The table is named as when reports lived in the review app.
        db_table = "review_agreementreport"
        indexes = [models.Index(fields=["project", "-created_at"], name="report_latest")]

    def __str__(self) -> str:
        return f"agreement report {self.pk} of {self.project_id}"
