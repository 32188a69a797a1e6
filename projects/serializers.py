"""Input and output shapes of the projects API. Inputs are documented here and
validated by the services (one set of rules for the API and the pages)."""

from __future__ import annotations

from rest_framework import serializers

from accord.errors import InvalidInput

from .markdown import render_markdown


def reject_unknown(data, allowed: set[str]) -> dict:
    """Mass assignment guard: unknown fields are a 400, never ignored (SECURITY.md A3)."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(
            [{"field": str(name)[:100], "reason": "unknown field"} for name in unknown]
        )
    return dict(data)


class ProjectInput(serializers.Serializer):
    name = serializers.CharField()
    task_type = serializers.CharField()
    config = serializers.JSONField()
    description = serializers.CharField(required=False, allow_blank=True)
    time_zone = serializers.CharField(required=False)
    overlap = serializers.IntegerField(required=False)
    consensus = serializers.JSONField(required=False, help_text='"unanimous" or {"majority": k}')
    review_policy = serializers.ChoiceField(["disagreements", "all", "none"], required=False)
    audit_sample = serializers.FloatField(required=False)
    lease_seconds = serializers.IntegerField(required=False)
    queue_order = serializers.ChoiceField(["import", "random", "priority"], required=False)
    queue_seed = serializers.IntegerField(required=False)
    audit_seed = serializers.IntegerField(required=False)
    anonymous_review = serializers.BooleanField(required=False)
    reason_codes = serializers.JSONField(required=False, help_text='[{"key": ..., "name": ...}]')


class ProjectPatchInput(serializers.Serializer):
    name = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    time_zone = serializers.CharField(required=False)
    overlap = serializers.IntegerField(required=False)
    consensus = serializers.JSONField(required=False)
    review_policy = serializers.ChoiceField(["disagreements", "all", "none"], required=False)
    audit_sample = serializers.FloatField(required=False)
    lease_seconds = serializers.IntegerField(required=False)
    queue_order = serializers.ChoiceField(["import", "random", "priority"], required=False)
    queue_seed = serializers.IntegerField(required=False)
    audit_seed = serializers.IntegerField(required=False)
    anonymous_review = serializers.BooleanField(required=False)
    reason_codes = serializers.JSONField(required=False, help_text='[{"key": ..., "name": ...}]')
    task_type = serializers.CharField(required=False)
    config = serializers.JSONField(required=False)
    config_note = serializers.CharField(required=False)
    confirm = serializers.BooleanField(
        required=False, help_text="apply a config change that affects annotations"
    )


class WarningOutput(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField(help_text="overlap_above_annotators")
    message = serializers.CharField()


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    task_type = serializers.CharField()
    config = serializers.JSONField()
    config_version = serializers.IntegerField()
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
    archived = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    roles = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())
    warnings = WarningOutput(
        many=True, help_text="settings that are saved but will not work as expected"
    )


class ConfigInput(serializers.Serializer):
    config = serializers.JSONField()
    task_type = serializers.CharField(required=False)
    note = serializers.CharField(required=False, allow_blank=True)
    dry_run = serializers.BooleanField(required=False)
    confirm = serializers.BooleanField(required=False)


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


class MemberInput(serializers.Serializer):
    user = serializers.IntegerField()
    roles = serializers.ListField(child=serializers.ChoiceField(["lead", "reviewer", "annotator"]))


class MemberOutput(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    roles = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class InviteInput(serializers.Serializer):
    email = serializers.EmailField()
    roles = serializers.ListField(child=serializers.ChoiceField(["lead", "reviewer", "annotator"]))


class InviteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    roles = serializers.JSONField()
    expires_at = serializers.DateTimeField()
    accepted = serializers.SerializerMethodField()
    url = serializers.CharField(required=False, help_text="shown once, when the invite is created")

    def get_accepted(self, obj) -> bool:
        return obj.accepted_at is not None


class GuidelineInput(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    note = serializers.CharField(required=False, allow_blank=True)


class GuidelineDraftInput(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False)


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
