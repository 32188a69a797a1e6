"""A reviewer's decision, parsed and checked before it becomes gold: a value
(their own, or an accepted annotation's) or exclusion, and the reason the
overruled annotators will read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accord.errors import InvalidInput
from items.models import Item
from projects.fields import reason_checked
from projects.models import Project
from tasktypes.base import TaskType, TaskTypeError

from .models import GoldSource, ReviewKind
from .submissions import Submission

MAX_REASON = 2000


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
    reason = reason_checked(reason, max_length=MAX_REASON)
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


def decision_source(
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
