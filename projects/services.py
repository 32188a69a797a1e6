"""Writes on projects, their schema, members, invites and guidelines.

Every function that changes more than one row is atomic. Writes that must be
serialised per project (membership changes, version numbers) lock the project
row first: that is the lock order everywhere.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zoneinfo
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accord.errors import Conflict, InvalidInput
from annotation import tasktypes
from annotation.models import Annotation

from . import access
from .models import (
    ConfigVersion,
    GuidelineDraft,
    GuidelineVersion,
    Invite,
    Membership,
    Project,
    QueueOrder,
    ReviewPolicy,
    Role,
)

User = get_user_model()

SETTINGS_FIELDS = (
    "name",
    "description",
    "time_zone",
    "overlap",
    "consensus",
    "review_policy",
    "audit_sample",
    "lease_seconds",
    "queue_order",
    "queue_seed",
    "audit_seed",
    "anonymous_review",
    "reason_codes",
)
MAX_OVERLAP = 10
# Settings whose change re-ranks the queue or resizes its items (a job).
REQUEUE_FIELDS = ("overlap", "queue_order", "queue_seed")


# --- validation of project settings ------------------------------------------


def _clean_settings(values: dict[str, Any], *, current: Project | None) -> dict[str, Any]:
    """Validate the settings in ``values``; return model field values."""
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}

    def bad(name: str, reason: str) -> None:
        errors.append({"field": name, "reason": reason})

    if "name" in values:
        name = values["name"]
        if not isinstance(name, str) or not name.strip():
            bad("name", "is required")
        elif len(name) > 200:
            bad("name", "is longer than 200 characters")
        else:
            out["name"] = name.strip()
    if "description" in values:
        description = values["description"] or ""
        if not isinstance(description, str) or len(description) > 20000:
            bad("description", "must be text of at most 20000 characters")
        else:
            out["description"] = description
    if "time_zone" in values:
        tz = values["time_zone"]
        if not isinstance(tz, str) or tz not in zoneinfo.available_timezones():
            bad("time_zone", "is not a known IANA time zone, such as Europe/Berlin")
        else:
            out["time_zone"] = tz
    if "overlap" in values:
        overlap = values["overlap"]
        if (
            not isinstance(overlap, int)
            or isinstance(overlap, bool)
            or not 1 <= overlap <= MAX_OVERLAP
        ):
            bad("overlap", f"must be a whole number from 1 to {MAX_OVERLAP}")
        else:
            out["overlap"] = overlap
    overlap = out.get("overlap", current.overlap if current else 2)
    if "consensus" in values:
        consensus = values["consensus"]
        if consensus == "unanimous":
            out["consensus_majority"] = None
        elif isinstance(consensus, dict) and set(consensus) == {"majority"}:
            k = consensus["majority"]
            if not isinstance(k, int) or isinstance(k, bool) or not (overlap / 2 < k <= overlap):
                bad(
                    "consensus.majority",
                    f"must be more than half of overlap ({overlap}) and at most overlap",
                )
            else:
                out["consensus_majority"] = k
        else:
            bad("consensus", 'must be "unanimous" or {"majority": k}')
    elif (
        "overlap" in values
        and current is not None
        and current.consensus_majority
        and not (overlap / 2 < current.consensus_majority <= overlap)
    ):
        # Raising overlap can turn a majority into a tie (2 of 4), where two
        # different values would both "win"; lowering it can make it unreachable.
        bad(
            "consensus.majority",
            f"{current.consensus_majority} is not a majority of the new overlap ({overlap}); "
            "change consensus with overlap",
        )
    if "review_policy" in values:
        policy = values["review_policy"]
        if policy not in ReviewPolicy.values:
            bad("review_policy", f"must be one of {', '.join(ReviewPolicy.values)}")
        else:
            out["review_policy"] = policy
    if "audit_sample" in values:
        try:
            sample = Decimal(str(values["audit_sample"]))
        except (InvalidOperation, ValueError):
            sample = None
        if (
            isinstance(values["audit_sample"], bool)
            or sample is None
            or not sample.is_finite()
            or not 0 <= sample <= 1
        ):
            bad("audit_sample", "must be a fraction from 0 to 1")
        else:
            out["audit_sample"] = sample.quantize(Decimal("0.0001"))
    if "lease_seconds" in values:
        lease = values["lease_seconds"]
        if (
            not isinstance(lease, int)
            or isinstance(lease, bool)
            or not 60 <= lease <= 7 * 24 * 3600
        ):
            bad("lease_seconds", "must be from 60 to 604800 seconds")
        else:
            out["lease_seconds"] = lease
    if "queue_order" in values:
        order = values["queue_order"]
        if order not in QueueOrder.values:
            bad("queue_order", f"must be one of {', '.join(QueueOrder.values)}")
        else:
            out["queue_order"] = order
    if "queue_seed" in values:
        seed = values["queue_seed"]
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
            bad("queue_seed", "must be a whole number from 0 to 2147483647")
        else:
            out["queue_seed"] = seed
    errors.extend(_clean_review_settings(values, out))
    if errors:
        raise InvalidInput(errors)
    return out


MAX_REASON_CODES = 30
REASON_CODE_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")


def _clean_review_settings(values: dict[str, Any], out: dict[str, Any]) -> list[dict[str, str]]:
    """The reviewer-facing settings: audit seed, anonymity, reason codes."""
    errors: list[dict[str, str]] = []
    if "audit_seed" in values:
        seed = values["audit_seed"]
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
            errors.append(
                {"field": "audit_seed", "reason": "must be a whole number from 0 to 2147483647"}
            )
        else:
            out["audit_seed"] = seed
    if "anonymous_review" in values:
        if not isinstance(values["anonymous_review"], bool):
            errors.append({"field": "anonymous_review", "reason": "must be true or false"})
        else:
            out["anonymous_review"] = values["anonymous_review"]
    if "reason_codes" in values:
        codes, code_errors = _clean_reason_codes(values["reason_codes"])
        errors.extend(code_errors)
        if not code_errors:
            out["reason_codes"] = codes
    return errors


def _clean_reason_codes(raw: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    if not isinstance(raw, list) or len(raw) > MAX_REASON_CODES:
        return [], [
            {
                "field": "reason_codes",
                "reason": f"must be a list of at most {MAX_REASON_CODES} {{key, name}} objects",
            }
        ]
    codes: list[dict[str, str]] = []
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw):
        where = f"reason_codes[{n}]"
        if not isinstance(entry, dict) or set(entry) - {"key", "name"}:
            errors.append({"field": where, "reason": "must be an object with key and name"})
            continue
        key, name = entry.get("key"), entry.get("name", entry.get("key"))
        if not isinstance(key, str) or not REASON_CODE_KEY.match(key):
            errors.append(
                {
                    "field": f"{where}.key",
                    "reason": "must be 1-40 lowercase letters, digits, _ or -",
                }
            )
        elif key in seen:
            errors.append({"field": f"{where}.key", "reason": f"{key!r} is listed twice"})
        elif not isinstance(name, str) or not name.strip() or len(name) > 80:
            errors.append({"field": f"{where}.name", "reason": "must be text of 1-80 characters"})
        else:
            seen.add(key)
            codes.append({"key": key, "name": name.strip()})
    return codes, errors


def _clean_config(task_type_key: Any, config: Any):
    if not isinstance(task_type_key, str):
        raise InvalidInput("is required", field="task_type")
    try:
        task_type = tasktypes.get(task_type_key)
    except tasktypes.UnknownTaskType:
        raise InvalidInput(
            f"unknown task type {task_type_key!r}; known: {', '.join(tasktypes.keys())}",
            field="task_type",
        ) from None
    try:
        return task_type, task_type.validate_config(config)
    except tasktypes.TaskTypeError as exc:
        raise InvalidInput(
            [
                {
                    "field": f"config.{e['field']}" if e["field"] != "config" else "config",
                    "reason": e["reason"],
                }
                for e in exc.errors
            ]
        ) from None


# --- projects -----------------------------------------------------------------


@transaction.atomic
def project_create(
    *, user, name: Any, task_type: Any, config: Any, **settings_values: Any
) -> Project:
    """Create a project with its first config version and an empty guideline
    draft; the creator becomes its lead."""
    unknown = set(settings_values) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(
            [{"field": name_, "reason": "unknown field"} for name_ in sorted(unknown)]
        )
    # Validate settings and schema together, so a form shows every problem
    # at once rather than one group per submit.
    errors: list[dict[str, str]] = []
    try:
        cleaned = _clean_settings({"name": name, **settings_values}, current=None)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    try:
        _, normalised = _clean_config(task_type, config)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors)
    task_type_key = task_type
    project = Project.objects.create(task_type=task_type_key, created_by=user, **cleaned)
    ConfigVersion.objects.create(
        project=project,
        number=1,
        task_type=task_type_key,
        config=normalised,
        author=user,
        note="created",
    )
    GuidelineDraft.objects.create(project=project, body="", updated_by=user)
    _membership_write(project=project, user=user, roles=[Role.LEAD])
    return project


@transaction.atomic
def project_update(*, project: Project, user, **values: Any) -> Project:
    """Change project settings (not the schema: see project_config_update)."""
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput([{"field": name, "reason": "unknown field"} for name in sorted(unknown)])
    project = Project.objects.select_for_update().get(pk=project.pk)
    cleaned = _clean_settings(values, current=project)
    requeue = any(
        name in REQUEUE_FIELDS and getattr(project, name) != value
        for name, value in cleaned.items()
    )
    review_turned_on = (
        project.review_policy == ReviewPolicy.NONE
        and cleaned.get("review_policy", ReviewPolicy.NONE) != ReviewPolicy.NONE
    )
    for name, value in cleaned.items():
        setattr(project, name, value)
    project.save()
    if review_turned_on:
        from review.settle import unresolved_to_review

        unresolved_to_review(project=project)
    if requeue:
        from annotation.reconcile import requeue_start

        requeue_start(project=project, user=user, reason=",".join(sorted(cleaned)))
    return project


def project_config(project: Project) -> ConfigVersion:
    return ConfigVersion.objects.get(project=project, number=project.config_version)


@dataclass
class ConfigChange:
    applied: bool
    breaking: bool
    changes: list[str]
    affected_annotations: int
    total_annotations: int
    version: int | None = None
    needs_confirmation: bool = False
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "applied": self.applied,
            "breaking": self.breaking,
            "changes": self.changes,
            "affected_annotations": self.affected_annotations,
            "total_annotations": self.total_annotations,
            "version": self.version,
            "needs_confirmation": self.needs_confirmation,
        }


def _count_affected(project: Project, impact) -> tuple[int, int]:
    values = Annotation.objects.filter(project=project).values_list("value", flat=True)
    total = affected = 0
    for value in values.iterator(chunk_size=2000):
        total += 1
        if impact.breaking and (impact.affects is None or impact.affects(value)):
            affected += 1
    return affected, total


@transaction.atomic
def project_config_update(
    *,
    project: Project,
    user,
    config: Any,
    task_type: Any = None,
    note: str = "",
    dry_run: bool = False,
    confirm: bool = False,
) -> ConfigChange:
    """Make a new config version, or report what it would do.

    A change that invalidates existing annotations (a label removed, single
    and multi-label switched, another task type) is applied only with
    ``confirm``; without it the caller gets the dry run. Annotations are
    never deleted: they keep the config version they were made under.
    """
    if not isinstance(note, str) or len(note) > 500:
        raise InvalidInput("must be text of at most 500 characters", field="note")
    project = Project.objects.select_for_update().get(pk=project.pk)
    current = project_config(project)
    new_key = current.task_type if task_type is None else task_type
    new_type, normalised = _clean_config(new_key, config)
    if new_key != current.task_type:
        from annotation.tasktypes.base import ConfigImpact

        impact = ConfigImpact(breaking=True, changes=[f"changes the task type to {new_key!r}"])
    else:
        impact = new_type.config_impact(current.config, normalised)
    affected, total = _count_affected(project, impact)
    needs_confirmation = impact.breaking and affected > 0
    change = ConfigChange(
        applied=False,
        breaking=impact.breaking,
        changes=impact.changes,
        affected_annotations=affected,
        total_annotations=total,
        needs_confirmation=needs_confirmation,
    )
    if normalised == current.config and new_key == current.task_type:
        change.changes = ["no change"]
        return change
    if dry_run or (needs_confirmation and not confirm):
        return change
    number = project.config_version + 1
    ConfigVersion.objects.create(
        project=project,
        number=number,
        task_type=new_key,
        config=normalised,
        note=note,
        author=user,
        impact=change.as_dict() | {"confirmed": bool(confirm)},
    )
    project.config_version = number
    project.task_type = new_key
    project.save(update_fields=["config_version", "task_type", "updated_at"])
    change.applied = True
    change.version = number
    return change


@transaction.atomic
def project_archive(*, project: Project, user) -> Project:
    Project.objects.filter(pk=project.pk, archived_at__isnull=True).update(
        archived_at=timezone.now()
    )
    project.refresh_from_db()
    return project


@transaction.atomic
def project_unarchive(*, project: Project, user) -> Project:
    Project.objects.filter(pk=project.pk).update(archived_at=None)
    project.refresh_from_db()
    return project


# --- members ------------------------------------------------------------------


def _clean_roles(roles: Any) -> list[str]:
    if not isinstance(roles, list) or not roles:
        raise InvalidInput("must be a non-empty list of lead, reviewer, annotator", field="roles")
    bad = [r for r in roles if r not in Role.values]
    if bad:
        raise InvalidInput(
            f"unknown role {str(bad[0])[:50]!r}; use lead, reviewer, annotator", field="roles"
        )
    return sorted(set(roles), key=Role.values.index)


def _membership_write(*, project: Project, user, roles: list[str]) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        project=project,
        user=user,
        defaults={
            "is_lead": Role.LEAD in roles,
            "is_reviewer": Role.REVIEWER in roles,
            "is_annotator": Role.ANNOTATOR in roles,
        },
    )
    access.sync_permissions(project=project, user=user, roles=roles)
    return membership


def _ensure_another_lead(project: Project, user) -> None:
    others = Membership.objects.filter(project=project, is_lead=True, user__is_active=True).exclude(
        user=user
    )
    if not others.exists():
        raise Conflict("A project needs at least one lead: make someone else lead first.")


@transaction.atomic
def membership_set(*, project: Project, user, roles: Any) -> Membership:
    """Add ``user`` to ``project`` or change their roles."""
    roles = _clean_roles(roles)
    # The project row lock serialises membership changes, so two leads cannot
    # demote each other at once and leave the project leaderless.
    project = Project.objects.select_for_update().get(pk=project.pk)
    if not user.is_active:
        raise InvalidInput("is not an active user", field="user")
    current = Membership.objects.filter(project=project, user=user).first()
    if current is not None and current.is_lead and Role.LEAD not in roles:
        _ensure_another_lead(project, user)
    return _membership_write(project=project, user=user, roles=roles)


@transaction.atomic
def membership_remove(*, project: Project, user) -> None:
    project = Project.objects.select_for_update().get(pk=project.pk)
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        return
    if membership.is_lead:
        _ensure_another_lead(project, user)
    membership.delete()
    access.sync_permissions(project=project, user=user, roles=[])


# --- invites ------------------------------------------------------------------


def _invite_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invite_create(
    *, project: Project, email: Any, roles: Any, user, ttl_seconds: int | None = None
):
    """Create a single-use invite; return (token, invite). Only the digest is kept."""
    from django.core.validators import validate_email

    roles = _clean_roles(roles)
    if not isinstance(email, str):
        # validate_email itself raises TypeError on a number (a 500).
        raise InvalidInput("is not a valid email address", field="email")
    try:
        validate_email(email)
    except DjangoValidationError:
        raise InvalidInput("is not a valid email address", field="email") from None
    token = secrets.token_urlsafe(32)
    ttl = settings.ACCORD_INVITE_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    invite = Invite.objects.create(
        project=project,
        email=email,
        roles=roles,
        digest=_invite_digest(token),
        created_by=user,
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    return token, invite


def invite_lookup(*, token: str) -> Invite | None:
    """The invite for ``token`` if it can still be used."""
    if not token or len(token) > 200:
        return None
    invite = Invite.objects.select_related("project").filter(digest=_invite_digest(token)).first()
    if (
        invite is None
        or invite.accepted_at
        or invite.revoked_at
        or invite.expires_at <= timezone.now()
    ):
        return None
    return invite


@transaction.atomic
def invite_accept(*, token: str, username: str, password: str):
    """Create the invited user and their membership; None if the invite is
    not usable any more. Single use even under concurrent accepts."""
    invite = invite_lookup(token=token)
    if invite is None:
        return None
    claimed = Invite.objects.filter(
        pk=invite.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(accepted_at=timezone.now())
    if claimed != 1:
        return None
    candidate = User(username=username, email=invite.email)
    try:
        password_validation.validate_password(password, candidate)
    except DjangoValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="password") from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username, email=invite.email, password=password
            )
    except IntegrityError:
        raise InvalidInput("is taken", field="username") from None
    Invite.objects.filter(pk=invite.pk).update(accepted_by=user)
    membership_set(project=invite.project, user=user, roles=invite.roles)
    return user


def invite_revoke(*, invite: Invite) -> None:
    """Revoke an unused invite. An accepted one is a membership now: remove
    the member instead (409)."""
    revoked = Invite.objects.filter(pk=invite.pk, accepted_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise Conflict("This invite was already accepted: remove the member instead.")


def invites_purge_expired() -> int:
    cutoff = timezone.now() - timedelta(days=30)
    deleted, _ = Invite.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


# --- guidelines ---------------------------------------------------------------

MAX_GUIDELINE = 500_000


def _clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise InvalidInput("must be Markdown text", field="body")
    if len(body) > MAX_GUIDELINE:
        raise InvalidInput(f"is longer than {MAX_GUIDELINE} characters", field="body")
    return body


@transaction.atomic
def guideline_draft_save(*, project: Project, user, body: Any) -> GuidelineDraft:
    body = _clean_body(body)
    draft, _ = GuidelineDraft.objects.update_or_create(
        project=project, defaults={"body": body, "updated_by": user}
    )
    return draft


@transaction.atomic
def guideline_publish(
    *, project: Project, user, note: Any = "", body: Any = None
) -> GuidelineVersion:
    """Publish the draft (or ``body``, which also becomes the draft) as the
    next immutable version."""
    if not isinstance(note, str) or len(note) > 500:
        raise InvalidInput("must be text of at most 500 characters", field="note")
    project = Project.objects.select_for_update().get(pk=project.pk)
    if body is not None:
        draft = guideline_draft_save(project=project, user=user, body=body)
    else:
        draft, _ = GuidelineDraft.objects.get_or_create(project=project)
    if not draft.body.strip():
        raise InvalidInput("the guidelines are empty: write them before publishing", field="body")
    latest = GuidelineVersion.objects.filter(project=project).order_by("-number").first()
    if latest is not None and latest.body == draft.body:
        raise Conflict(f"Nothing changed since version {latest.number}.")
    return GuidelineVersion.objects.create(
        project=project,
        number=(latest.number + 1) if latest else 1,
        body=draft.body,
        note=note.strip(),
        author=user,
    )
