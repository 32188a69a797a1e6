"""Where a compared item goes: the settler the queue calls (through
``annotation.hooks``) when every slot of an item is submitted. Under the
project's consensus rule and review policy an item becomes consensus gold,
goes to review (a disagreement, or an agreed item drawn for audit), or stays
unresolved when the project reviews nothing."""

from __future__ import annotations

import hashlib

from items.models import Item, ItemState
from projects.counters import CounterBatch
from projects.models import Project, ReviewPolicy
from tasktypes.base import ConsensusRule, TaskType

from .gold import GoldDraft, gold_write
from .models import GoldSource
from .submissions import dispute_key, guideline_max, guideline_min, submissions


def audit_drawn(project: Project, content_hash: str) -> bool:
    """The seeded draw that sends a share of agreed items to review: the same
    item and seed always draw the same way, and about ``audit_sample`` of
    all items are drawn."""
    sample = float(project.audit_sample)
    if sample <= 0:
        return False
    digest = hashlib.sha256(f"audit:{project.audit_seed}:{content_hash}".encode()).hexdigest()
    return int(digest[:15], 16) / float(1 << 60) < sample


def item_settle(
    *,
    item: Item,
    project: Project,
    task_type: TaskType,
    config: dict,
    now,
    counts: CounterBatch,
) -> tuple[str, str]:
    """Decide under the consensus rule and the review policy where an item
    that has all its annotations goes; write its consensus gold if it has
    one. Returns (new item state, outcome). The caller (the queue, through
    ``annotation.hooks.item_settler``) holds the item lock and updates the
    item row."""
    rows = submissions(item.pk)
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
        guideline_version=guideline_max(rows),
        min_guideline_version=guideline_min(rows),
        dispute=dispute_key(task_type, values, config),
    )
    gold_write(project.pk, item.pk, draft, now, expected=None)
    counts.add(f"gold:{GoldSource.CONSENSUS}", 1)
    return ItemState.GOLD, "agreed"


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
