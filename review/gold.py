"""Gold records: where a compared item goes, what makes gold (consensus, a
reviewer's decision, a later re-adjudication), its history and the feedback
an overruled annotator sees.

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

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

import tasktypes
from accord.errors import Conflict, InvalidInput
from annotation.models import Annotation, Assignment
from items.labels import item_label
from items.models import Item, ItemState
from projects.counters import CounterBatch
from projects.models import GuidelineVersion, Project, ReviewPolicy
from tasktypes.base import ConsensusRule, TaskType, TaskTypeError

from .models import Feedback, GoldRecord, GoldRevision, GoldSource, Review, ReviewKind, ReviewState

GOLD = GoldRecord._meta.db_table
REVISION = GoldRevision._meta.db_table
FEEDBACK = Feedback._meta.db_table
MAX_REASON = 2000
MAX_DISPUTE = 255
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
class Submission:
    """One submitted annotation of an item, as the comparison reads it."""

    id: int
    annotator_id: int
    value: Any
    config_version: int
    guideline_version: int | None


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


# --- reading what an item has ---------------------------------------------------


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def submissions(item_id: int) -> list[Submission]:
    """The item's submitted annotations, in submit order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT n.id, n.annotator_id, n.value, n.config_version, n.guideline_version "  # noqa: S608
            f"FROM {Annotation._meta.db_table} n WHERE n.item_id = %s "
            # From the item's few annotations, each assignment probed by its
            # key: never from the project's submitted assignments, which
            # the planner chose on tables it had no statistics for.
            f"AND EXISTS (SELECT 1 FROM {Assignment._meta.db_table} a WHERE a.id = n.assignment_id "
            f"AND a.state = 'submitted'{' OFFSET 0' if connection.vendor == 'postgresql' else ''}) "
            "ORDER BY n.id",
            [item_id],
        )
        return [
            Submission(pk, user, _json(value), cv, gv)
            for pk, user, value, cv, gv in cursor.fetchall()
        ]


def dispute_key(task_type: TaskType, values: list[Any], config: dict) -> str:
    """The categories some but not all annotators chose ("neg|pos"): what the
    "decided before" panel matches earlier adjudications on."""
    if len(values) < 2:
        return ""
    sets = [set(map(str, task_type.agreement_categories(v, config))) for v in values]
    disputed = set().union(*sets) - set.intersection(*sets)
    return "|".join(sorted(disputed))[:MAX_DISPUTE]


def audit_drawn(project: Project, content_hash: str) -> bool:
    """The seeded draw that sends a share of agreed items to review: the same
    item and seed always draw the same way, and about ``audit_sample`` of
    all items are drawn."""
    sample = float(project.audit_sample)
    if sample <= 0:
        return False
    digest = hashlib.sha256(f"audit:{project.audit_seed}:{content_hash}".encode()).hexdigest()
    return int(digest[:15], 16) / float(1 << 60) < sample


def _min_version(rows: list[Submission]) -> int | None:
    versions = [r.guideline_version for r in rows if r.guideline_version is not None]
    return min(versions) if versions else None


def _max_version(rows: list[Submission]) -> int | None:
    versions = [r.guideline_version for r in rows if r.guideline_version is not None]
    return max(versions) if versions else None


# --- where a compared item goes -----------------------------------------------------


def item_settle(
    *,
    item: Item,
    project: Project,
    task_type: TaskType,
    config: dict,
    rows: list[Submission],
    now,
    counts: CounterBatch,
) -> tuple[str, str]:
    """Decide under the consensus rule and the review policy where an item
    that has all its annotations goes; write its consensus gold if it has
    one. Returns (new item state, outcome). The caller holds the item lock
    and updates the item row."""
    values = [r.value for r in rows]
    rule = ConsensusRule(majority=project.consensus_majority)
    consensus = task_type.consensus(values, rule, config)
    if not consensus.agreed:
        if project.review_policy == ReviewPolicy.NONE:
            return ItemState.UNRESOLVED, "disagreed"
        return ItemState.REVIEW, "disagreed"
    if project.review_policy == ReviewPolicy.ALL or (
        project.review_policy == ReviewPolicy.DISAGREEMENTS
        and audit_drawn(project, item.content_hash)
    ):
        return ItemState.REVIEW, "agreed"
    draft = GoldDraft(
        value=consensus.value,
        excluded=False,
        source=GoldSource.CONSENSUS,
        annotation_ids=[r.id for r in rows],
        reviewer_id=None,
        reason="",
        reason_code="",
        config_version=max(r.config_version for r in rows),
        guideline_version=_max_version(rows),
        min_guideline_version=_min_version(rows),
        dispute=dispute_key(task_type, values, config),
    )
    _gold_write(project.pk, item.pk, draft, now, expected=None)
    counts.add(f"gold:{GoldSource.CONSENSUS}", 1)
    return ItemState.GOLD, "agreed"


# --- writing gold ---------------------------------------------------------------


def _params(draft: GoldDraft, now) -> list[Any]:
    values = {**draft.__dict__, "decided_at": now}
    return [
        orjson.dumps(values[name]).decode() if name in JSON_FIELDS else values[name]
        for name in FIELDS
    ]


def _placeholders() -> str:
    jsonb = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    return ", ".join(jsonb if name in JSON_FIELDS else "%s" for name in FIELDS)


def _gold_write(
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
                f"{name} = %s::jsonb"
                if name in JSON_FIELDS and connection.vendor == "postgresql"
                else f"{name} = %s"
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


# --- decisions --------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What a reviewer decided: a value (their own, or an accepted
    annotation's) or exclusion, and why."""

    value: Any
    excluded: bool
    accepted: int | None
    reason: str
    reason_code: str


_MISSING = object()


def decision_parse(
    *,
    project: Project,
    task_type: TaskType,
    config: dict,
    item: Item,
    rows: list[Submission],
    value: Any = _MISSING,
    annotation: Any = None,
    exclude: Any = False,
    reason: Any = "",
    reason_code: Any = "",
) -> Decision:
    """Validate a decision; InvalidInput with field and reason otherwise."""
    if not isinstance(exclude, bool):
        raise InvalidInput("must be true or false", field="exclude")
    given = [
        name
        for name, present in (
            ("value", value is not _MISSING and value is not None),
            ("annotation", annotation is not None),
            ("exclude", exclude),
        )
        if present
    ]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of value (the gold value), annotation (the id of the "
            "annotation to accept) or exclude (true)",
            field="value" if not given else given[1],
        )
    accepted = None
    if exclude:
        clean = None
    elif annotation is not None:
        accepted = _accepted(annotation, rows)
        clean = next(r.value for r in rows if r.id == accepted)
    else:
        try:
            clean = task_type.validate_value(value, config, item.data)
        except TaskTypeError as exc:
            raise InvalidInput(exc.errors) from None
    reason = _clean_reason(reason)
    code = _clean_code(project, reason_code)
    overrules = exclude or any(
        task_type.value_key(r.value) != task_type.value_key(clean) for r in rows
    )
    if overrules and not reason:
        raise InvalidInput(
            "is required when the decision overrules an annotator or excludes the item: "
            "the annotators will read it",
            field="reason",
        )
    return Decision(clean, bool(exclude), accepted, reason, code)


def _accepted(annotation: Any, rows: list[Submission]) -> int:
    if isinstance(annotation, bool) or not isinstance(annotation, int | str):
        raise InvalidInput("must be the id of one of the item's annotations", field="annotation")
    try:
        pk = int(annotation)
    except ValueError:
        raise InvalidInput(
            "must be the id of one of the item's annotations", field="annotation"
        ) from None
    if pk not in {r.id for r in rows}:
        raise InvalidInput("is not one of this item's annotations", field="annotation")
    return pk


def _clean_reason(reason: Any) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise InvalidInput("must be text", field="reason")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"is longer than {MAX_REASON} characters", field="reason")
    if "\x00" in reason:
        raise InvalidInput("must not contain NUL characters", field="reason")
    return reason


def _clean_code(project: Project, code: Any) -> str:
    if code in (None, ""):
        return ""
    keys = [c["key"] for c in project.reason_codes]
    if not isinstance(code, str) or code not in keys:
        raise InvalidInput(
            f"must be one of this project's reason codes: {', '.join(keys) or '(none)'}",
            field="reason_code",
        )
    return code


def _source(
    kind: str, decision: Decision, task_type: TaskType, rows: list[Submission], rule, config
) -> str:
    """Audit items whose annotators' consensus the reviewer confirmed are
    audit-confirmed; every other decision is an adjudication."""
    if kind != ReviewKind.AUDIT or decision.excluded:
        return GoldSource.ADJUDICATED
    consensus = task_type.consensus([r.value for r in rows], rule, config)
    same = consensus.agreed and task_type.value_key(consensus.value) == task_type.value_key(
        decision.value
    )
    return GoldSource.AUDIT_CONFIRMED if same else GoldSource.ADJUDICATED


def _task(project_id: int, number: int) -> tuple[TaskType, dict]:
    from annotation.queue_selectors import config_version

    row = config_version(project_id, number)
    return tasktypes.get(row.task_type), row.config


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
    task_type, config = _task(project.pk, config_version)
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
        min_guideline_version=_min_version(rows),
        dispute=dispute_key(task_type, [r.value for r in rows], config),
    )
    gold_id, _, revision_id = _gold_write(project.pk, item.pk, draft, now, expected=expected)
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
    transaction.on_commit(lambda: _report_soon(project.pk))
    item.state = to_state
    gold = GoldRecord.objects.get(pk=gold_id)
    gold._revision_id = revision_id
    return gold


def _report_soon(project_id: int) -> None:
    from agreement.services import report_soon

    report_soon(project_id)


# --- resolving a review -------------------------------------------------------------


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
        task_type, config = _task(project.pk, review.config_version)
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
            source=_source(review.kind, parsed, task_type, rows, rule, config),
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


# --- re-adjudicating gold ---------------------------------------------------------------


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
        task_type, config = _task(project.pk, project.config_version)
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


# --- feedback ------------------------------------------------------------------------


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


# --- precedents into the guidelines ------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def _quoted(text: str, limit: int = 600) -> str:
    text = text if len(text) <= limit else text[:limit].rstrip() + "…"
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return "\n".join("> " + line for line in escaped.splitlines() or [""])


def gold_promote(*, gold: GoldRecord, user) -> str:
    """Append an adjudication to the guidelines' draft as a worked example;
    the lead edits and publishes it like any other change. Returns the
    appended Markdown."""
    from projects.models import GuidelineDraft
    from projects.services import guideline_draft_save

    if gold.source == GoldSource.CONSENSUS:
        raise Conflict("Only a reviewer's decision can become a worked example.")
    project = gold.project
    task_type, config = _task(project.pk, gold.config_version)
    text = task_type.item_text(gold.item.data)
    answer = "excluded from gold" if gold.excluded else task_type.display_value(gold.value, config)
    name = _MARKDOWN_SPECIAL.sub(r"\\\1", item_label(gold.item, task_type_key=task_type.key))
    example = f"### Worked example (item {name})\n\n{_quoted(text)}\n\n**Answer:** " + (
        _MARKDOWN_SPECIAL.sub(r"\\\1", answer)
    )
    if gold.reason:
        example += "\n\n**Why:** " + _MARKDOWN_SPECIAL.sub(r"\\\1", gold.reason)
    with transaction.atomic():
        draft = GuidelineDraft.objects.select_for_update().filter(project=project).first()
        body = (draft.body if draft else "").rstrip()
        guideline_draft_save(
            project=project, user=user, body=(body + "\n\n" if body else "") + example + "\n"
        )
    return example


# --- review policy "none" -> review ----------------------------------------------------------


def unresolved_to_review(*, project: Project) -> int:
    """Turning review on sends the disagreements nobody reviewed to review."""
    moved = Item.objects.filter(project=project, state=ItemState.UNRESOLVED).update(
        state=ItemState.REVIEW
    )
    counts = CounterBatch(project.pk)
    counts.add(f"items:{ItemState.UNRESOLVED}", -moved)
    counts.add(f"items:{ItemState.REVIEW}", moved)
    counts.flush()
    return moved
