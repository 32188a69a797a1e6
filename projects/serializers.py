"""Input and output shapes of the projects API: one input serializer per
operation, which validates the input and is what the schema documents. The
pages' forms validate through the same classes (projects.fields.input_validate),
so each rule is written once; the services take the validated values."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.settings import api_settings

from accord.errors import InvalidInput

from .fields import (
    AnyJSONField,
    FlagField,
    FractionField,
    InputSerializer,
    Judged,
    OneOfField,
    SeedField,
    TextField,
    TimeZoneField,
    ValidationError,
    WholeNumberField,
    text_clean,
)
from .markdown import render_markdown
from .models import QueueOrder, ReviewPolicy, Role
from .schema import config_normalise, task_type_known

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
MAX_GUIDELINE = 500_000


ROLES = ", ".join(Role.values)
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
MAX_REASON_CODES = 30
REASON_CODE_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")


def reject_unknown(data, allowed: set[str]) -> dict:
    """Mass assignment guard for the APIs without an input serializer yet:
    unknown fields are a 400, never ignored (SECURITY.md A3)."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(
            [{"field": str(name)[:100], "reason": "unknown field"} for name in unknown]
        )
    return dict(data)


class ConsensusField(Judged, serializers.JSONField):
    """ "unanimous" or {"majority": k}; whether k is a majority of the overlap
    is a rule between fields (ProjectSettingsInput.check)."""

    def to_internal_value(self, data: Any) -> str | dict:
        if data == "unanimous" or (isinstance(data, dict) and set(data) == {"majority"}):
            return data
        raise ValidationError('must be "unanimous" or {"majority": k}')


def reason_codes_clean(raw: Any) -> list[dict[str, str]]:
    """[{key, name}]: unique keys, names of 1-80 characters. An error names
    the entry (``reason_codes[2].key``), which the settings page turns into
    a line of its box."""
    if not isinstance(raw, list) or len(raw) > MAX_REASON_CODES:
        raise ValidationError(f"must be a list of at most {MAX_REASON_CODES} {{key, name}} objects")
    codes: list[dict[str, str]] = []
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for entry in raw:
        errors.append({})
        if not isinstance(entry, dict) or set(entry) - {"key", "name"}:
            errors[-1] = {NON_FIELD: "must be an object with key and name"}
            continue
        key, name = entry.get("key"), entry.get("name", entry.get("key"))
        if not isinstance(key, str) or not REASON_CODE_KEY.match(key):
            errors[-1] = {"key": "must be 1-40 lowercase letters, digits, _ or -"}
        elif key in seen:
            errors[-1] = {"key": f"{key!r} is listed twice"}
        elif not isinstance(name, str) or not name.strip() or len(name) > 80:
            errors[-1] = {"name": "must be text of 1-80 characters"}
        else:
            seen.add(key)
            codes.append({"key": key, "name": name.strip()})
    if any(errors):
        raise ValidationError(errors)
    return codes


class ReasonCodesField(Judged, serializers.JSONField):
    def to_internal_value(self, data: Any) -> list[dict[str, str]]:
        return reason_codes_clean(data)


class TaskTypeField(Judged, serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise ValidationError("is required")
        try:
            return task_type_known(data)
        except InvalidInput as exc:
            raise ValidationError(exc.errors[0]["reason"]) from None


class ProjectSettingsInput(InputSerializer):
    """The settings of a project (not its schema), for a project that exists
    (``context["project"]``) or one being created."""

    name = TextField(
        max_length=200,
        too_long="is longer than 200 characters",
        wrong_type="is required",
        required_reason="is required",
        strip=True,
        none_as_blank=False,
        required=False,
    )
    description = TextField(max_length=20000, required=False)
    time_zone = TimeZoneField(required=False)
    overlap = WholeNumberField(
        low=1,
        high=MAX_OVERLAP,
        reason=f"must be a whole number from 1 to {MAX_OVERLAP}",
        required=False,
    )
    consensus = ConsensusField(required=False, help_text='"unanimous" or {"majority": k}')
    review_policy = OneOfField(ReviewPolicy.values, required=False)
    audit_sample = FractionField(required=False)
    lease_seconds = WholeNumberField(
        low=60, high=7 * 24 * 3600, reason="must be from 60 to 604800 seconds", required=False
    )
    queue_order = OneOfField(QueueOrder.values, required=False)
    queue_seed = SeedField(required=False)
    audit_seed = SeedField(required=False)
    anonymous_review = FlagField(required=False)
    reason_codes = ReasonCodesField(required=False, help_text='[{"key": ..., "name": ...}]')

    def check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        current = self.context.get("project")
        overlap = values.get("overlap", current.overlap if current else 2)
        consensus = values.get("consensus")
        if isinstance(consensus, dict):
            k = consensus["majority"]
            if not isinstance(k, int) or isinstance(k, bool) or not overlap / 2 < k <= overlap:
                errors["consensus.majority"] = [
                    f"must be more than half of overlap ({overlap}) and at most overlap"
                ]
        elif (
            consensus is None
            and "overlap" in values
            and current is not None
            and current.consensus_majority
            and not overlap / 2 < current.consensus_majority <= overlap
        ):
            # Raising overlap can turn a majority into a tie (2 of 4), where two
            # different values would both "win"; lowering it can make it unreachable.
            errors["consensus.majority"] = [
                f"{current.consensus_majority} is not a majority of the new overlap "
                f"({overlap}); change consensus with overlap"
            ]


@extend_schema_serializer(component_name="ProjectInput")
class ProjectCreateInput(ProjectSettingsInput):
    """A new project: its settings, task type and first config, judged
    together so that every problem is reported at once."""

    task_type = TaskTypeField()
    config = AnyJSONField(help_text="the task type's config, e.g. the labels")

    def get_fields(self):
        fields = super().get_fields()
        fields["name"].required = True
        return fields

    def check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        super().check(values, errors)
        if "task_type" in values and "config" in values:
            try:
                values["config"] = config_normalise(values["task_type"], values["config"])
            except InvalidInput as exc:
                for error in exc.errors:
                    errors.setdefault(error["field"], []).append(error["reason"])


class ProjectPatchInput(ProjectSettingsInput):
    """Settings and, in the same request, the schema: one request, one outcome."""

    task_type = TaskTypeField(required=False)
    config = AnyJSONField(required=False)
    config_note = TextField(max_length=500, wrong_type="must be text", required=False)
    confirm = FlagField(required=False, help_text="apply a config change that affects annotations")


class WarningOutput(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField(help_text="overlap_above_annotators")
    message = serializers.CharField()


class ProjectOutput(serializers.Serializer):
    """A project as projects.api.ProjectShown presents it to one caller."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    task_type = serializers.CharField()
    config = serializers.JSONField(source="config.config")
    config_version = serializers.IntegerField(source="config.number")
    time_zone = serializers.CharField()
    overlap = serializers.IntegerField()
    consensus = serializers.JSONField()
    review_policy = serializers.CharField()
    audit_sample = serializers.FloatField()
    lease_seconds = serializers.IntegerField()
    queue_order = serializers.CharField()
    queue_seed = serializers.IntegerField()
    audit_seed = serializers.IntegerField()
    anonymous_review = serializers.BooleanField()
    reason_codes = serializers.JSONField()
    archived = serializers.BooleanField(source="is_archived")
    created_at = serializers.DateTimeField()
    roles = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())
    warnings = WarningOutput(
        many=True, help_text="settings that are saved but will not work as expected"
    )


class ConfigInput(InputSerializer):
    config = AnyJSONField()
    task_type = TaskTypeField(required=False)
    note = TextField(max_length=500, required=False)
    dry_run = FlagField(required=False)
    confirm = FlagField(required=False)


class ConfigChangeOutput(serializers.Serializer):
    applied = serializers.BooleanField()
    breaking = serializers.BooleanField()
    changes = serializers.ListField(child=serializers.CharField())
    affected_annotations = serializers.IntegerField()
    total_annotations = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    needs_confirmation = serializers.BooleanField()


class ConfigVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    task_type = serializers.CharField()
    config = serializers.JSONField()
    note = serializers.CharField()
    impact = serializers.JSONField()
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


def roles_clean(roles: Any) -> list[str]:
    """A non-empty list of roles, each once, in the order lead, reviewer, annotator."""
    if not isinstance(roles, list) or not roles:
        raise ValidationError(f"must be a non-empty list of {ROLES}")
    bad = [r for r in roles if r not in Role.values]
    if bad:
        raise ValidationError(f"unknown role {str(bad[0])[:50]!r}; use {ROLES}")
    return sorted(set(roles), key=Role.values.index)


class RolesField(Judged, serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.ChoiceField(Role.values), **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        return roles_clean(data)


class MemberRolesInput(InputSerializer):
    roles = RolesField()


class MemberInput(MemberRolesInput):
    user = WholeNumberField(
        low=1,
        high=2**63 - 1,
        reason="must be a user id",
        error_messages={"required": "must be a user id"},
    )


class MemberOutput(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    roles = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class EmailField(Judged, serializers.EmailField):
    default_error_messages = {"required": "is not a valid email address"}

    def to_internal_value(self, data: Any) -> str:
        # validate_email itself raises TypeError on a number (a 500).
        if not isinstance(data, str):
            raise ValidationError("is not a valid email address")
        try:
            validate_email(data)
        except DjangoValidationError:
            raise ValidationError("is not a valid email address") from None
        return data


class InviteInput(InputSerializer):
    email = EmailField()
    roles = RolesField()


class InviteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    roles = serializers.JSONField()
    expires_at = serializers.DateTimeField()
    accepted = serializers.SerializerMethodField()
    url = serializers.CharField(required=False, help_text="shown once, when the invite is created")

    def get_accepted(self, obj) -> bool:
        return obj.accepted_at is not None


class GuidelineBodyField(Judged, serializers.CharField):
    """Markdown of at most MAX_GUIDELINE characters; ``null`` (or no body)
    only where ``allow_null``: publishing the draft as it is."""

    default_error_messages = {"required": "must be Markdown text"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str | None:
        if data is None and self.allow_null:
            return None
        return text_clean(
            data,
            max_length=MAX_GUIDELINE,
            too_long=f"is longer than {MAX_GUIDELINE} characters",
            wrong_type="must be Markdown text",
            none_as_blank=False,
        )


class GuidelineInput(InputSerializer):
    body = GuidelineBodyField(required=False, allow_null=True, default=None)
    note = TextField(max_length=500, strip=True, none_as_blank=False, required=False, default="")


class GuidelineDraftInput(InputSerializer):
    body = GuidelineBodyField()


class GuidelineVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    body = serializers.CharField()
    html = serializers.SerializerMethodField(help_text="sanitised HTML rendering")
    note = serializers.CharField()
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()

    def get_html(self, obj) -> str:
        # The model has no html column: render (and sanitise, B4) on the way out.
        return str(render_markdown(obj.body))


class GuidelineDraftOutput(serializers.Serializer):
    body = serializers.CharField()
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)


class DiffLineOutput(serializers.Serializer):
    kind = serializers.CharField()
    text = serializers.CharField()
    old_no = serializers.IntegerField(allow_null=True)
    new_no = serializers.IntegerField(allow_null=True)


class StatsOutput(serializers.Serializer):
    items = serializers.DictField(child=serializers.IntegerField())
    annotations_per_annotator = serializers.ListField(child=serializers.DictField())
