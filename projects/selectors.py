"""Reads that span models."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

from django.db.models import QuerySet

import tasktypes
from tasktypes.base import TaskType

from . import access, hooks
from .counters import counters_for
from .models import ConfigVersion, GuidelineVersion, Invite, Membership, Project


@dataclass
class ProjectSummary:
    project: Project
    roles: list[str]
    counts: dict[str, int]

    @property
    def progress_percent(self) -> int:
        total = self.counts.get("total", 0)
        return round(100 * self.counts.get("gold", 0) / total) if total else 0


def project_list(user, *, include_archived: bool = True) -> list[ProjectSummary]:
    """The user's projects with their roles and item counts, in three queries."""
    projects = list(access.projects_for_user(user).order_by("archived_at", "-created_at"))
    if not include_archived:
        projects = [p for p in projects if not p.is_archived]
    return project_summaries(user, projects)


def project_summaries(user, projects: list[Project]) -> list[ProjectSummary]:
    """Roles and item counts for ``projects``, in two queries."""
    ids = [p.pk for p in projects]
    roles = {
        m.project_id: m.roles for m in Membership.objects.filter(user=user, project_id__in=ids)
    }
    counters = counters_for(ids)
    return [
        ProjectSummary(project=p, roles=roles.get(p.pk, []), counts=item_counts(counters[p.pk]))
        for p in projects
    ]


def item_counts(counters: dict[str, int]) -> dict[str, int]:
    counts = {state: counters.get(f"items:{state}", 0) for state in hooks.item_states()}
    counts["total"] = counters.get("items:total", 0)
    return counts


def project_item_counts(project: Project) -> dict[str, int]:
    return item_counts(counters_for([project.pk])[project.pk])


class Warning(TypedDict):
    field: str
    code: str
    message: str


def project_warnings(project: Project) -> list[Warning]:
    """Settings that are valid but will not work as the lead expects: said
    where they are set (the settings page, the project API), not only on
    the Queue tab."""
    annotators = Membership.objects.filter(project=project, is_annotator=True).count()
    if annotators >= project.overlap:
        return []
    return [
        {
            "field": "overlap",
            "code": "overlap_above_annotators",
            "message": (
                f"Overlap is {project.overlap} but the project has {annotators} "
                f"annotator{'s' if annotators != 1 else ''}: no item can get all its "
                "annotations until you add annotators or lower the overlap."
            ),
        }
    ]


def members(project: Project) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    )


class AnnotatorCount(TypedDict):
    user: int
    username: str
    annotations: int
    skips: int


def annotator_counts(project: Project) -> list[AnnotatorCount]:
    """Submitted annotations and skips per annotator (for leads): every
    annotator of the project and anyone else who annotated in it."""
    return hooks.annotator_counts(project=project)


def annotations_per_annotator(project: Project) -> list[AnnotatorCount]:
    """The overview's figures: the stats API's, for those who annotated."""
    return [row for row in annotator_counts(project) if row["annotations"]]


def config_versions(project: Project) -> QuerySet[ConfigVersion]:
    return (
        ConfigVersion.objects.filter(project=project).select_related("author").order_by("-number")
    )


def pending_invites(project: Project) -> QuerySet[Invite]:
    """Invites neither accepted nor revoked (expired ones included, so a lead
    sees why a link stopped working)."""
    return (
        Invite.objects.filter(project=project, accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("created_by")
        .order_by("-created_at")
    )


def guideline_versions(project: Project) -> QuerySet[GuidelineVersion]:
    return (
        GuidelineVersion.objects.filter(project=project)
        .select_related("author")
        .order_by("-number")
    )


@dataclass
class DiffLine:
    kind: str  # "same", "added", "removed"
    text: str
    old_no: int | None
    new_no: int | None


def guideline_diff(old: str, new: str) -> list[DiffLine]:
    """A line diff; the template escapes every line."""
    a, b = old.splitlines(), new.splitlines()
    out: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(DiffLine("same", a[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2))
            continue
        out.extend(DiffLine("removed", a[i], i + 1, None) for i in range(i1, i2))
        out.extend(DiffLine("added", b[j], None, j + 1) for j in range(j1, j2))
    return out


# --- config versions: the one lookup ---------------------------------------


@lru_cache(maxsize=256)
def config_version(project_id: int, number: int) -> ConfigVersion:
    """A label-schema version. Versions are immutable, so a process may keep
    them (the claim and submit paths ask on every request)."""
    return ConfigVersion.objects.get(project_id=project_id, number=number)


def task_config(project_id: int, number: int) -> tuple[TaskType, dict]:
    """The task type and label config of a config version: what validates,
    compares, shows and exports a value made under it."""
    row = config_version(project_id, number)
    return tasktypes.get(row.task_type), row.config
