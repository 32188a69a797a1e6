"""Reads for review: what a reviewer sees of an item, gold and its history,
precedents, and an annotator's feedback. The lead's progress figures are in
review/lead_selectors.py, the gold list in review/gold_list.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotation.models import Annotation
from items.labels import item_label
from projects.models import Project
from projects.selectors import config_version
from tasktypes import get as task_type_for

from .models import Feedback, GoldRecord, GoldRevision, GoldSource, Review, ReviewKind
from .submissions import dispute_key

PRECEDENTS = 5


ITEM_TEXT = 400


def iso_time(value) -> str | None:
    return value.isoformat() if value else None


def _names(project: Project, config_number: int) -> tuple[Any, dict]:
    row = config_version(project.pk, config_number)
    return task_type_for(row.task_type), row.config


def annotator_label(n: int) -> str:
    """ "Annotator A", "Annotator B", … for anonymous review."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return f"Annotator {letters}"


def review_annotations(review: Review, *, anonymous: bool) -> list[dict[str, Any]]:
    """Each submitted annotation of the review's item with who made it (or a
    letter), the time it took, the guideline version, and which of its
    categories are in dispute."""
    project = review.project
    task_type, config = _names(project, review.config_version)
    rows = list(
        Annotation.objects.filter(item_id=review.item_id, assignment__state="submitted")
        .select_related("annotator")
        .order_by("id")
    )
    values = [a.value for a in rows]
    disputed = set(dispute_key(task_type, values, config).split("|")) - {""}
    out = []
    for n, annotation in enumerate(rows):
        categories = [str(c) for c in task_type.agreement_categories(annotation.value, config)]
        out.append(
            {
                "id": annotation.pk,
                "label": annotator_label(n),
                "annotator": None
                if anonymous
                else {"id": annotation.annotator_id, "username": annotation.annotator.username},
                "value": annotation.value,
                "display": task_type.display_value(annotation.value, config),
                "disputed": [c for c in categories if c in disputed],
                "submitted_at": iso_time(annotation.created_at),
                "active_ms": annotation.active_ms,
                "lease_to_submit_ms": annotation.lease_to_submit_ms,
                "guideline_version": annotation.guideline_version,
                "config_version": annotation.config_version,
            }
        )
    return out


def review_payload(review: Review) -> dict[str, Any]:
    """The review as its reviewer sees it. An audit item shows no
    annotations until the reviewer has labelled it blind."""
    item = review.item
    hidden = review.kind == ReviewKind.AUDIT and review.blind_at is None
    annotations = (
        [] if hidden else review_annotations(review, anonymous=review.project.anonymous_review)
    )
    return {
        "id": review.pk,
        "project": review.project_id,
        "kind": review.kind,
        "state": review.state,
        "item": {"id": item.pk, "external_id": item.external_id, "data": item.data},
        "leased_until": iso_time(review.expires_at),
        "blind": hidden,
        "blind_value": review.blind_value,
        "annotations": annotations,
        "disputed": sorted({c for a in annotations for c in a["disputed"]}),
        "config_version": review.config_version,
        "guideline_version": review.guideline_version,
        "gold_revision": review.gold_revision_id,
    }


def gold_payload(gold: GoldRecord | GoldRevision, *, revision: int | None = None) -> dict:
    number = revision if revision is not None else getattr(gold, "revision", None)
    return {
        "id": gold.gold_id if isinstance(gold, GoldRevision) else gold.pk,
        "item": gold.item_id,
        "revision": number if number is not None else gold.number,
        "value": gold.value,
        "excluded": gold.excluded,
        "source": gold.source,
        "annotations": gold.annotation_ids,
        "reviewer": gold.reviewer_id,
        "reason": gold.reason,
        "reason_code": gold.reason_code,
        "config_version": gold.config_version,
        "guideline_version": gold.guideline_version,
        "min_guideline_version": gold.min_guideline_version,
        "decided_at": iso_time(gold.decided_at),
    }


def gold_history(gold: GoldRecord) -> list[dict]:
    return [
        gold_payload(rev, revision=rev.number)
        for rev in GoldRevision.objects.filter(gold=gold).order_by("number")
    ]


def precedents(review_or_gold, *, limit: int = PRECEDENTS) -> list[dict[str, Any]]:
    """Earlier reviewer decisions on items with the same labels in dispute,
    newest first, with their reasons."""
    project = review_or_gold.project
    task_type, config = _names(project, project.config_version)
    values = list(
        Annotation.objects.filter(
            item_id=review_or_gold.item_id, assignment__state="submitted"
        ).values_list("value", flat=True)
    )
    key = dispute_key(task_type, values, config)
    if not key:
        return []
    codes = {c["key"]: c["name"] for c in project.reason_codes}
    rows = (
        GoldRecord.objects.filter(project=project, dispute=key)
        .exclude(source=GoldSource.CONSENSUS)
        .exclude(item_id=review_or_gold.item_id)
        .select_related("item")
        .order_by("-decided_at")[:limit]
    )
    return [
        {
            "gold": g.pk,
            "item": g.item_id,
            "text": task_type.item_text(g.item.data)[:ITEM_TEXT],
            "value": g.value,
            "display": "excluded" if g.excluded else task_type.display_value(g.value, config),
            "excluded": g.excluded,
            "reason": g.reason,
            "reason_code": g.reason_code,
            "reason_name": codes.get(g.reason_code, g.reason_code),
            "decided_at": iso_time(g.decided_at),
        }
        for g in rows
    ]


def unseen_feedback(project: Project, user) -> int:
    return Feedback.objects.filter(project=project, annotator=user, seen_at__isnull=True).count()


@dataclass
class FeedbackRow:
    id: int
    item_id: int
    item_label: str
    text: str
    yours: str
    gold: str
    reason: str
    reason_name: str
    decided_at: Any
    seen: bool
    payload: dict


def feedback_for(project: Project, user, *, limit: int = 200) -> list[FeedbackRow]:
    """The caller's overruled annotations, newest first (their own only)."""
    rows = (
        Feedback.objects.filter(project=project, annotator=user)
        .select_related("annotation__item", "gold_revision")
        .order_by("-id")[:limit]
    )
    codes = {c["key"]: c["name"] for c in project.reason_codes}
    out = []
    for fb in rows:
        annotation, gold = fb.annotation, fb.gold_revision
        task_type, config = _names(project, gold.config_version)
        text = task_type.item_text(annotation.item.data)
        out.append(
            FeedbackRow(
                id=fb.pk,
                item_id=annotation.item_id,
                item_label=item_label(annotation.item, task_type_key=project.task_type),
                text=text[:ITEM_TEXT],
                yours=task_type.display_value(annotation.value, config),
                gold=task_type.display_value(gold.value, config),
                reason=gold.reason,
                reason_name=codes.get(gold.reason_code, gold.reason_code),
                decided_at=gold.decided_at,
                seen=fb.seen_at is not None,
                payload={
                    "id": fb.pk,
                    "annotation": annotation.pk,
                    "item": {
                        "id": annotation.item_id,
                        "external_id": annotation.item.external_id,
                        "text": text[:ITEM_TEXT],
                    },
                    "your_value": annotation.value,
                    "gold_value": gold.value,
                    "reason": gold.reason,
                    "reason_code": gold.reason_code,
                    "decided_at": iso_time(gold.decided_at),
                    "seen": fb.seen_at is not None,
                },
            )
        )
    return out
