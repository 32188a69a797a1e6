"""Writes on projects, their schema, members, invites and guidelines.

Every function that changes more than one row is atomic. Writes that must be
serialised per project (membership changes, version numbers) lock the project
row first: that is the lock order everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import tasktypes
from accord.errors import Conflict, InvalidInput
from tasktypes.base import ConfigImpact

from . import access, hooks
from .models import (
    ConfigVersion,
    GuidelineDraft,
    GuidelineVersion,
    Invite,
    Membership,
    Project,
    ReviewPolicy,
    Role,
)
from .schema import config_normalise

User = get_user_model()

# Settings whose change re-ranks the queue or resizes its items (a job).
REQUEUE_FIELDS = ("overlap", "queue_order", "queue_seed")


def _model_values(settings_values: dict[str, Any]) -> dict[str, Any]:
    """Validated settings (ProjectSettingsInput) as model field values."""
    values = dict(settings_values)
    if "consensus" in values:
        consensus = values.pop("consensus")
        values["consensus_majority"] = None if consensus == "unanimous" else consensus["majority"]
    return values


# --- projects -----------------------------------------------------------------


@transaction.atomic
def project_create(
    *, user, name: str, task_type: str, config: Any, **settings_values: Any
) -> Project:
    """Create a project with its first config version and an empty guideline
    draft; the creator becomes its lead. The settings are validated
    (serializers.ProjectCreateInput); the config is stored in its task
    type's normal form."""
    normalised = config_normalise(task_type, config)
    project = Project.objects.create(
        name=name, task_type=task_type, created_by=user, **_model_values(settings_values)
    )
    ConfigVersion.objects.create(
        project=project,
        number=1,
        task_type=task_type,
        config=normalised,
        author=user,
        note="created",
    )
    GuidelineDraft.objects.create(project=project, body="", updated_by=user)
    _membership_write(project=project, user=user, roles=[Role.LEAD])
    return project


@transaction.atomic
def project_update(*, project: Project, user, **settings_values: Any) -> Project:
    """Change project settings, validated (serializers.ProjectSettingsInput
    with this project); not the schema: see project_config_update."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    values = _model_values(settings_values)
    requeue = any(
        name in REQUEUE_FIELDS and getattr(project, name) != value for name, value in values.items()
    )
    review_turned_on = (
        project.review_policy == ReviewPolicy.NONE
        and values.get("review_policy", ReviewPolicy.NONE) != ReviewPolicy.NONE
    )
    for name, value in values.items():
        setattr(project, name, value)
    project.save()
    if review_turned_on:
        hooks.review_turned_on(project=project)
    if requeue:
        hooks.queue_requeue(project=project, user=user, reason=",".join(sorted(values)))
    return project


@transaction.atomic
def project_change(
    *,
    project: Project,
    user,
    settings_values: dict[str, Any],
    task_type: str | None = None,
    config: Any = None,
    config_note: str = "",
    confirm: bool = False,
) -> Project:
    """The project API's PATCH: settings and, when ``config`` or
    ``task_type`` is given, a new config version. One request, one outcome:
    when the schema part is refused (InvalidInput, or Conflict for want of
    ``confirm``) the settings part is rolled back too."""
    if settings_values:
        project = project_update(project=project, user=user, **settings_values)
    if config is None and task_type is None:
        return project
    change = project_config_update(
        project=project,
        user=user,
        config=project_config(project).config if config is None else config,
        task_type=task_type,
        note=config_note,
        confirm=confirm,
    )
    if change.needs_confirmation and not change.applied:
        raise Conflict(
            "This config change affects existing annotations; "
            'send it again with "confirm": true to apply it.',
            impact=change.as_dict(),
        )
    project.refresh_from_db()
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
    total = affected = 0
    for value in hooks.annotation_values(project=project):
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
    ``note`` is validated (serializers.ConfigInput); the config is judged
    by its task type here, whoever calls.
    """
    project = Project.objects.select_for_update().get(pk=project.pk)
    current = project_config(project)
    new_key = current.task_type if task_type is None else task_type
    normalised = config_normalise(new_key, config)
    new_type = tasktypes.get(new_key)
    if new_key != current.task_type:
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
def membership_set(*, project: Project, user, roles: list[str]) -> Membership:
    """Add ``user`` to ``project`` or change their roles (validated:
    serializers.MemberRolesInput)."""
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
    *, project: Project, email: str, roles: list[str], user, ttl_seconds: int | None = None
):
    """Create a single-use invite for a validated email and roles
    (serializers.InviteInput); return (token, invite). Only the digest is kept."""
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


@transaction.atomic
def guideline_draft_save(*, project: Project, user, body: str) -> GuidelineDraft:
    """Save the draft; ``body`` is validated (serializers.GuidelineDraftInput)."""
    draft, _ = GuidelineDraft.objects.update_or_create(
        project=project, defaults={"body": body, "updated_by": user}
    )
    return draft


@transaction.atomic
def guideline_publish(
    *, project: Project, user, note: str = "", body: str | None = None
) -> GuidelineVersion:
    """Publish the draft (or ``body``, which also becomes the draft) as the
    next immutable version. ``note`` and ``body`` are validated
    (serializers.GuidelineInput)."""
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
        note=note,
        author=user,
    )
