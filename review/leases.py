"""The review queue: reviewers claim items in review with the same lease
mechanism as annotation.

* A reviewer never gets an item they annotated, and never an item another
  reviewer holds: the claim skips rows other claims have locked (``SKIP
  LOCKED``) and items with an active review, and a partial unique index
  allows one active review per item even if this code had a bug.
* One active review per (project, reviewer), claims of one reviewer
  serialised on their membership row: two tabs get the same lease.
* Order: priority (highest first), then age in review.
* A lease that ran out is expired lazily by the next claim in the project
  and by the beat task; its reviewer may still resolve the item until
  another reviewer takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone

from accord.errors import Conflict, InvalidInput
from accord.sql import dialect, model_columns, model_from_row
from annotation.models import Annotation
from annotation.queue.claim import NothingLeft
from annotation.queue.rows import member_lock
from items.models import Item, ItemState
from projects.models import Project
from projects.selectors import task_config
from tasktypes.base import TaskTypeError

from .gold import current_guideline_version
from .models import Review, ReviewKind, ReviewState

# Searches for an item before a claim answers "come back in a moment".
CLAIM_ATTEMPTS = 5

ITEM = Item._meta.db_table
REVIEW = Review._meta.db_table
ANNOTATION = Annotation._meta.db_table


@dataclass(frozen=True)
class ReviewClaim:
    review: Review
    resumed: bool


def reviews_expire(*, project_id: int | None = None, now=None) -> int:
    """End review leases past their time (the beat task, and each claim)."""
    now = now or timezone.now()
    where, params = "", [now, now]
    if project_id is not None:
        where, params = "project_id = %s AND ", [now, project_id, now]
    with connection.cursor() as cursor:
        # 'active' is written into the statement, not bound: only then can a
        # prepared statement's generic plan use the partial index of active
        # leases (a bound state led it to read every review of the project).
        cursor.execute(
            f"UPDATE {REVIEW} SET state = 'expired', finished_at = %s "  # noqa: S608
            f"WHERE {where}state = 'active' AND expires_at < %s",
            params,
        )
        return cursor.rowcount


def _active_review(project: Project, user) -> Review | None:
    """The reviewer's live lease in the project (the partial unique index of
    active leases, its state written into the statement: see reviews_expire)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Review, 'r')} FROM {REVIEW} r "  # noqa: S608
            "WHERE r.project_id = %s AND r.reviewer_id = %s AND r.state = 'active'",
            [project.pk, user.pk],
        )
        row = cursor.fetchone()
    return model_from_row(Review, row) if row else None


def _next_item(project: Project, user) -> int | None:
    """The first item in review, by priority then age, that this reviewer
    did not annotate and nobody else is reviewing; items they gave back
    come after all the others."""
    return _first_item(project, user, fresh=True) or _first_item(project, user, fresh=False)


def _first_item(project: Project, user, *, fresh: bool) -> int | None:
    # The walk goes down the review queue's index in order; each probe is a
    # correlated subquery on the item's own rows (accord.sql's ``fence``),
    # and the reviewer's column is kept out of the index choice (``+ 0``): a
    # reviewer who also annotated 100,000 items must not have their
    # annotations read per claim (see annotation.queue.rows.excluded_sql).
    fence = dialect().fence()
    given_back = (
        f"AND NOT EXISTS (SELECT 1 FROM {REVIEW} g WHERE g.item_id = i.id "  # noqa: S608
        f"AND g.reviewer_id + 0 = %(me)s AND g.state = 'released'{fence}) "
        if fresh
        else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.id FROM {ITEM} i WHERE i.project_id = %(p)s AND i.state = 'review' "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {ANNOTATION} n "
            f"WHERE n.item_id = i.id AND n.annotator_id + 0 = %(me)s{fence}) "
            f"AND NOT EXISTS (SELECT 1 FROM {REVIEW} r "
            f"WHERE r.item_id = i.id AND r.state = 'active'{fence}) {given_back}"
            "ORDER BY i.priority DESC, i.compared_at, i.id LIMIT 1" + dialect().skip_locked("i"),
            {"p": project.pk, "me": user.pk},
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _nothing_left(project: Project, user, now) -> NothingLeft:
    """ "leased" when items this reviewer could take are held by others now,
    with the seconds until the first of those leases ends; else "done"."""
    fence = dialect().fence()
    # From the project's active leases (few), each item probed by its key.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Review, 'r')} FROM {REVIEW} r "  # noqa: S608
            "WHERE r.project_id = %(p)s AND r.state = 'active' AND r.reviewer_id <> %(me)s "
            f"AND EXISTS (SELECT 1 FROM {ITEM} i WHERE i.id = r.item_id "
            f"AND i.state = 'review'{fence}) "
            f"AND NOT EXISTS (SELECT 1 FROM {ANNOTATION} n WHERE n.item_id = r.item_id "
            f"AND n.annotator_id + 0 = %(me)s{fence}) "
            "ORDER BY r.expires_at LIMIT 1",
            {"p": project.pk, "me": user.pk},
        )
        row = cursor.fetchone()
    if row is None:
        return NothingLeft("done")
    held = model_from_row(Review, row).expires_at
    return NothingLeft("leased", retry_after=max(1, int((held - now).total_seconds()) + 1))


def review_claim(*, project: Project, user) -> ReviewClaim:
    """The reviewer's live review if they have one (renewed), else a new
    lease on the next item; NothingLeft when there is none for them."""
    now = timezone.now()
    with transaction.atomic():
        member_lock(project.pk, user.pk)
        reviews_expire(project_id=project.pk, now=now)
        mine = _active_review(project, user)
        if mine is not None:
            mine.expires_at = _lease_end(project, now)
            Review.objects.filter(pk=mine.pk).update(expires_at=mine.expires_at)
            return ReviewClaim(mine, resumed=True)
        for _ in range(CLAIM_ATTEMPTS):
            item_id = _next_item(project, user)
            if item_id is None:
                raise _nothing_left(project, user, now)
            review = _lease(project, user, item_id, now)
            if review is not None:
                return ReviewClaim(review, resumed=False)
    raise NothingLeft("leased", retry_after=1)


def _lease(project: Project, user, item_id: int, now) -> Review | None:
    """A new review lease on the item, or None when another reviewer's lease
    on it committed after our search's snapshot was taken: the row lock we
    got is then free, but the partial unique index on active reviews holds.
    The next search, a new statement, sees their lease and passes the item."""
    item = Item.objects.get(pk=item_id)
    try:
        with transaction.atomic():
            return Review.objects.create(
                project=project,
                item=item,
                reviewer=user,
                kind=ReviewKind.AUDIT if item.outcome == "agreed" else ReviewKind.DISAGREEMENT,
                state=ReviewState.ACTIVE,
                leased_at=now,
                expires_at=_lease_end(project, now),
                config_version=project.config_version,
                guideline_version=current_guideline_version(project.pk),
            )
    except IntegrityError:
        return None


def _lease_end(project: Project, now):
    return now + timedelta(seconds=project.lease_seconds)


def _own(review: Review, user) -> Review:
    """The review re-read under its row lock; only its reviewer acts on it."""
    review = Review.objects.select_for_update().get(pk=review.pk)
    if review.reviewer_id != user.pk:
        raise Http404
    return review


def review_blind(*, review: Review, user, value: Any) -> Review:
    """Record the reviewer's own label of an audit item, given before the
    annotations are shown; it cannot be changed afterwards."""
    now = timezone.now()
    with transaction.atomic():
        review = _own(review, user)
        if review.kind != ReviewKind.AUDIT:
            raise Conflict("Only audit items are labelled blind first.", code="not_audit")
        item = Item.objects.get(pk=review.item_id)
        task_type, config = task_config(review.project_id, review.config_version)
        try:
            clean = task_type.validate_value(value, config, item.data)
        except TaskTypeError as exc:
            raise InvalidInput(exc.errors) from None
        if review.blind_at is not None:
            if task_type.value_key(review.blind_value) == task_type.value_key(clean):
                return review
            raise Conflict(
                "Your blind label is recorded; decide the gold value next.", code="blind_done"
            )
        if review.state != ReviewState.ACTIVE or item.state != ItemState.REVIEW:
            raise Conflict("This review is no longer yours to work on.", code="review_ended")
        review.blind_value, review.blind_at = clean, now
        review.expires_at = max(review.expires_at, _lease_end(review.project, now))
        review.save(update_fields=["blind_value", "blind_at", "expires_at"])
        return review


def review_release(*, review: Review, user) -> bool:
    """Give a review back to the queue (its reviewer). False if it had
    already ended."""
    with transaction.atomic():
        review = _own(review, user)
        return _end(review.pk, ReviewState.RELEASED)


def review_lease_release(*, project: Project, review_id: Any) -> bool:
    """A lead ends a review lease; False when it had already ended."""
    try:
        pk = int(review_id)
    except (TypeError, ValueError):
        raise InvalidInput("must be a review id", field="review") from None
    if not Review.objects.filter(pk=pk, project=project).exists():
        raise Http404
    return _end(pk, ReviewState.RELEASED)


def _end(pk: int, state: str) -> bool:
    return bool(
        Review.objects.filter(pk=pk, state=ReviewState.ACTIVE).update(
            state=state, finished_at=timezone.now()
        )
    )
