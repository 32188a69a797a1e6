"""Gold records: writing gold with its history, a reviewer resolving a
review, a later re-adjudication, and the feedback an overruled annotator
sees.

* **One writer per item.** Every write here runs with the item's row locked
  (``SELECT … FOR UPDATE``): a comparison, a review resolve and a
  re-adjudication of the same item queue behind each other, and each reads
  the state the one before it left.
* **Optimistic concurrency on gold.** A re-adjudication names the revision it
  was made against; the conditional ``UPDATE … WHERE revision = %s`` changes
  nothing when another reviewer got there first, and the caller gets 409 with
  the current state (SECURITY.md E2, E10). Every revision is kept.
* **Blind audit.** An audit item is labelled by the reviewer before they see
  the annotations, so agreement is checked rather than rubber-stamped; a
  resolve before that label is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from accord.errors import Conflict, InvalidInput
from accord.sql import dialect
from annotation.models import Annotation
from items.models import Item, ItemState
from projects.counters import CounterBatch
from projects.models import GuidelineVersion, Project
from projects.selectors import task_config
from tasktypes.base import ConsensusRule, TaskType

from . import hooks
from .decisions import Decision, decision_parse, decision_source
from .models import Feedback, GoldRecord, GoldRevision, GoldSource, Review, ReviewKind, ReviewState
from .submissions import Submission, dispute_key, guideline_min, submissions

GOLD = GoldRecord._meta.db_table


REVISION = GoldRevision._meta.db_table


FEEDBACK = Feedback._meta.db_table


# The columns a gold record and each of its revisions share.
FIELDS = (
    "value",
    "excluded",
    "source",
    "annotation_ids",
    "reviewer_id",
    "reason",
    "reason_code",
    "config_version",
    "guideline_version",
    "min_guideline_version",
    "dispute",
    "decided_at",
)


JSON_FIELDS = ("value", "annotation_ids")


@dataclass(frozen=True)
class GoldDraft:
    """A gold value with its provenance, before it is written."""

    value: Any
    excluded: bool
    source: str
    annotation_ids: list[int]
    reviewer_id: int | None
    reason: str
    reason_code: str
    config_version: int
    guideline_version: int | None
    min_guideline_version: int | None
    dispute: str


def _params(draft: GoldDraft, now) -> list[Any]:
    values = {**draft.__dict__, "decided_at": now}
    return [
        orjson.dumps(values[name]).decode() if name in JSON_FIELDS else values[name]
        for name in FIELDS
    ]


def _placeholders() -> str:
    jsonb = dialect().jsonb_param
    return ", ".join(jsonb if name in JSON_FIELDS else "%s" for name in FIELDS)


def gold_write(
    project_id: int, item_id: int, draft: GoldDraft, now, *, expected: int | None
) -> tuple[int, int, int]:
    """Write the item's gold: a new record when ``expected`` is None, else a
    new revision of the record if it is still at revision ``expected``
    (Conflict otherwise). Returns (gold id, revision number, revision id)."""
    params = _params(draft, now)
    columns = ", ".join(FIELDS)
    with connection.cursor() as cursor:
        if expected is None:
            cursor.execute(
                f"INSERT INTO {GOLD} (project_id, item_id, revision, {columns}) "  # noqa: S608
                f"VALUES (%s, %s, 1, {_placeholders()}) RETURNING id, revision",
                [project_id, item_id, *params],
            )
        else:
            assignments = ", ".join(
                f"{name} = {dialect().jsonb_param}" if name in JSON_FIELDS else f"{name} = %s"
                for name in FIELDS
            )
            cursor.execute(
                f"UPDATE {GOLD} SET revision = revision + 1, {assignments} "  # noqa: S608
                "WHERE item_id = %s AND revision = %s RETURNING id, revision",
                [*params, item_id, expected],
            )
        row = cursor.fetchone()
        if row is None:
            raise Conflict("Someone else changed this gold record first.", code="gold_changed")
        gold_id, number = row
        cursor.execute(
            f"INSERT INTO {REVISION} (gold_id, project_id, item_id, number, {columns}) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s, {_placeholders()}) RETURNING id",
            [gold_id, project_id, item_id, number, *params],
        )
        revision_id = cursor.fetchone()[0]
    return gold_id, number, revision_id


def _feedback_write(
    project_id: int,
    task_type: TaskType,
    rows: list[Submission],
    draft: GoldDraft,
    revision_id: int,
    now,
) -> int:
    """Point each annotation the decision overruled at it; drop feedback of
    annotations it agrees with (or of an excluded item: nobody was wrong
    about a bad item). Returns how many annotations were overruled."""
    ids = [r.id for r in rows]
    Feedback.objects.filter(annotation_id__in=ids).delete()
    if draft.excluded:
        return 0
    gold_key = task_type.value_key(draft.value)
    overruled = [r for r in rows if task_type.value_key(r.value) != gold_key]
    Feedback.objects.bulk_create(
        [
            Feedback(
                project_id=project_id,
                annotation_id=r.id,
                annotator_id=r.annotator_id,
                gold_revision_id=revision_id,
                created_at=now,
            )
            for r in overruled
        ]
    )
    return len(overruled)


def _lock_item(item_id: int) -> Item:
    return Item.objects.select_for_update().get(pk=item_id)


def current_guideline_version(project_id: int) -> int | None:
    return (
        GuidelineVersion.objects.filter(project_id=project_id)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )


def gold_state(gold: GoldRecord) -> dict[str, Any]:
    """The current state of a gold record, for a 409's body."""
    return {
        "id": gold.pk,
        "item": gold.item_id,
        "revision": gold.revision,
        "value": gold.value,
        "excluded": gold.excluded,
        "source": gold.source,
        "reviewer": gold.reviewer_id,
        "reason": gold.reason,
        "reason_code": gold.reason_code,
        "decided_at": gold.decided_at.isoformat() if gold.decided_at else None,
    }


def _settled_conflict(item: Item) -> Conflict:
    gold = GoldRecord.objects.filter(item=item).first()
    return Conflict(
        "This item was already resolved.",
        code="already_resolved",
        gold=gold_state(gold) if gold else None,
        item_state=item.state,
    )


def _decide(
    *,
    project: Project,
    item: Item,
    rows: list[Submission],
    decision: Decision,
    source: str,
    reviewer_id: int,
    config_version: int,
    guideline_version: int | None,
    expected: int | None,
    previous: GoldRecord | None,
    now,
) -> GoldRecord:
    """Write a reviewer's decision as the item's gold, with feedback and
    counters, and move the item to gold or excluded."""
    task_type, config = task_config(project.pk, config_version)
    draft = GoldDraft(
        value=decision.value,
        excluded=decision.excluded,
        source=source,
        annotation_ids=[r.id for r in rows],
        reviewer_id=reviewer_id,
        reason=decision.reason,
        reason_code=decision.reason_code,
        config_version=config_version,
        guideline_version=guideline_version,
        min_guideline_version=guideline_min(rows),
        dispute=dispute_key(task_type, [r.value for r in rows], config),
    )
    gold_id, _, revision_id = gold_write(project.pk, item.pk, draft, now, expected=expected)
    _feedback_write(project.pk, task_type, rows, draft, revision_id, now)
    to_state = ItemState.EXCLUDED if decision.excluded else ItemState.GOLD
    counts = CounterBatch(project.pk)
    if item.state != to_state:
        Item.objects.filter(pk=item.pk).update(state=to_state)
        counts.add(f"items:{item.state}", -1)
        counts.add(f"items:{to_state}", 1)
    if previous is not None and not previous.excluded:
        counts.add(f"gold:{previous.source}", -1)
    if not decision.excluded:
        counts.add(f"gold:{source}", 1)
    counts.flush()
    # Gold changed: the figures against gold follow.
    transaction.on_commit(lambda: hooks.gold_changed.send(project_id=project.pk))
    item.state = to_state
    gold = GoldRecord.objects.get(pk=gold_id)
    gold._revision_id = revision_id
    return gold


def review_resolve(*, review: Review, user, **decision: Any) -> tuple[GoldRecord, bool]:
    """Settle the item of ``review`` as its reviewer decided. Returns the
    gold record and whether this call made it (False: the same decision was
    sent again and the stored one is returned).

    Refused (409) when the review is resolved with another decision, the
    item was resolved by someone else, another reviewer holds the item now,
    or an audit item has not been labelled blind yet."""
    now = timezone.now()
    with transaction.atomic():
        item = _lock_item(review.item_id)
        review = Review.objects.select_for_update().get(pk=review.pk)
        if review.reviewer_id != user.pk:
            raise PermissionDenied
        project = Project.objects.get(pk=review.project_id)
        task_type, config = task_config(project.pk, review.config_version)
        rows = submissions(item.pk)
        parsed = decision_parse(
            project=project, task_type=task_type, config=config, item=item, rows=rows, **decision
        )
        if review.state == ReviewState.RESOLVED:
            return _replayed(review, parsed, task_type)
        if item.state != ItemState.REVIEW:
            raise _settled_conflict(item)
        _check_still_theirs(review)
        if review.kind == ReviewKind.AUDIT and review.blind_at is None:
            raise Conflict(
                "Label this audit item yourself before you see the annotations.",
                code="blind_first",
            )
        rule = ConsensusRule(majority=project.consensus_majority)
        previous = GoldRecord.objects.filter(item=item).first()
        gold = _decide(
            project=project,
            item=item,
            rows=rows,
            decision=parsed,
            source=decision_source(review.kind, parsed, task_type, rows, rule, config),
            reviewer_id=user.pk,
            config_version=review.config_version,
            guideline_version=review.guideline_version,
            expected=previous.revision if previous else None,
            previous=previous,
            now=now,
        )
        Review.objects.filter(pk=review.pk).update(
            state=ReviewState.RESOLVED, finished_at=now, gold_revision_id=gold._revision_id
        )
        return gold, True


def _replayed(review: Review, decision: Decision, task_type: TaskType) -> tuple[GoldRecord, bool]:
    revision = review.gold_revision
    gold = GoldRecord.objects.get(item_id=review.item_id)
    same = (
        revision is not None
        and revision.excluded == decision.excluded
        and task_type.value_key(revision.value) == task_type.value_key(decision.value)
    )
    if same:
        return gold, False
    raise Conflict(
        "You already resolved this item with another decision; change the gold record "
        "through a new adjudication instead.",
        code="already_resolved",
        gold=gold_state(gold),
    )


def _check_still_theirs(review: Review) -> None:
    """A review whose lease ran out may still be resolved, unless another
    reviewer has taken the item since; one that was given back may not."""
    if review.state == ReviewState.ACTIVE:
        return
    if review.state == ReviewState.RELEASED:
        raise Conflict(
            "This review was given back; take the item again to decide.", code="released"
        )
    taken = (
        Review.objects.filter(item_id=review.item_id, state=ReviewState.ACTIVE)
        .exclude(pk=review.pk)
        .exists()
    )
    if taken:
        raise Conflict(
            "Your review lease ended and another reviewer has this item now.", code="taken"
        )


def _expected_revision(revision: Any) -> int:
    if isinstance(revision, bool) or not isinstance(revision, int | str):
        raise InvalidInput(
            "is required: the revision your decision was made against", field="revision"
        )
    try:
        return int(revision)
    except ValueError:
        raise InvalidInput("must be a whole number", field="revision") from None


def gold_adjudicate(*, gold: GoldRecord, user, revision: Any, **decision: Any) -> GoldRecord:
    """Change a gold record by a new adjudication made against ``revision``.
    The old state stays in its history; a stale revision gets 409 with the
    current state, and nothing changes."""
    expected = _expected_revision(revision)
    now = timezone.now()
    with transaction.atomic():
        item = _lock_item(gold.item_id)
        current = GoldRecord.objects.get(pk=gold.pk)
        if current.revision != expected:
            raise Conflict(
                f"This gold record is at revision {current.revision}, not {expected}: "
                "someone else changed it. Reload and decide again.",
                code="stale_revision",
                gold=gold_state(current),
            )
        project = Project.objects.get(pk=current.project_id)
        if Annotation.objects.filter(item=item, annotator=user).exists():
            raise PermissionDenied("You annotated this item, so you cannot adjudicate it.")
        task_type, config = task_config(project.pk, project.config_version)
        rows = [r for r in submissions(item.pk) if r.id in set(current.annotation_ids)]
        parsed = decision_parse(
            project=project, task_type=task_type, config=config, item=item, rows=rows, **decision
        )
        return _decide(
            project=project,
            item=item,
            rows=rows,
            decision=parsed,
            source=GoldSource.ADJUDICATED,
            reviewer_id=user.pk,
            config_version=project.config_version,
            guideline_version=current_guideline_version(project.pk),
            expected=expected,
            previous=current,
            now=now,
        )


def feedback_mark_seen(*, project: Project, user, ids: Any = None) -> int:
    """Mark the caller's feedback seen: the given ids, or all of it."""
    rows = Feedback.objects.filter(project=project, annotator=user, seen_at__isnull=True)
    if ids is not None:
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise InvalidInput("must be a list of feedback ids", field="ids")
        rows = rows.filter(pk__in=ids)
    return rows.update(seen_at=timezone.now())


def gold_counters_expected(*, project: Project) -> dict[str, int]:
    """The gold counters recounted from the rows: records by source
    (excluded items are not gold). For the queue's counter reconciliation
    (``annotation.hooks.counters_expected``)."""
    rows = (
        GoldRecord.objects.filter(project=project, excluded=False)
        .values_list("source")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {f"gold:{source}": n for source, n in rows}


def item_gold(*, item_id: int) -> GoldRecord | None:
    """The item's gold record, if it has one (the lead's item page)."""
    return GoldRecord.objects.filter(item_id=item_id).first()
