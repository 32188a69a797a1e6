"""The project pages' forms: they turn posted text into the values the API
takes, have them judged by the API's own input serializer for the same
operation, and put the errors back beside the right field.

No rule lives here. Every field is optional text; what cannot be parsed
(``"abc"`` for an overlap) is handed on unchanged, so the one validation in
projects.serializers (and the task type) answers for the pages exactly as
it does for the API.
"""

from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, ClassVar

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import capfirst

from . import serializers as s
from .fields import input_validate
from .models import DEFAULT_REASON_CODES, Project, QueueOrder, ReviewPolicy, Role
from .serializers import MAX_OVERLAP

User = get_user_model()

CONSENSUS_CHOICES = [
    ("unanimous", "Unanimous: every annotation must match"),
    ("majority", "Majority: k matching annotations decide"),
]


def reason_text(label: str, reason: str) -> str:
    """A service reason as a sentence: "is required" beside Name reads
    "Name is required"; in a table cell, whose column names the field, it
    reads "Required"; a reason that is already a sentence stays one."""
    if label and reason.startswith(("is ", "must ", "has ", "are ")):
        return f"{label} {reason}"
    if not label and reason.startswith("is "):
        reason = reason[3:]
    return capfirst(reason)


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


def _whole_number(text: str) -> int | str:
    """An int when the text is one, else the text, for the service to refuse."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def _percent_to_fraction(text: str) -> Decimal | str:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return text
    return value / 100 if value.is_finite() else text


def _minutes_to_seconds(text: str) -> int | str:
    try:
        seconds = Decimal(text.strip()) * 60
    except InvalidOperation:
        return text
    # Only whole seconds: 1.5 minutes is fine, 1.001 minutes is refused.
    if not seconds.is_finite() or seconds != seconds.to_integral_value():
        return text
    return int(seconds)


def _plain(value: Decimal) -> str:
    """Decimal without exponent or trailing zeros: 5.00 → "5", 12.340 → "12.34"."""
    return f"{value.normalize():f}"


def _reason_code_lines(text: str) -> list[dict[str, str]]:
    """ "key: Name" lines into the service's [{key, name}]; a line without a
    colon names a key that is also its name. The service validates."""
    codes = []
    for line in text.splitlines():
        if line.strip():
            key, _, name = line.partition(":")
            codes.append({"key": key.strip(), "name": (name or key).strip()})
    return codes


_CODE_PATH = re.compile(r"^reason_codes\[(\d+)\]\.?(\w*)$")


def _reason_code_error(error: dict[str, Any]) -> dict[str, Any]:
    match = _CODE_PATH.match(str(error.get("field") or ""))
    if not match:
        return error
    line, part = int(match.group(1)) + 1, match.group(2)
    return {"field": "reason_codes", "reason": f"line {line}: {part or 'entry'} {error['reason']}"}


class ServiceForm(forms.Form):
    """A form whose only job is parsing; ``take_errors`` places a service's
    ``[{"field", "reason"}]`` on its fields and returns the ones it does not own."""

    # service field path → form field name (None: this form's general errors)
    error_fields: ClassVar[dict[str, str | None]] = {}
    # service field path → the reason in this form's units
    reasons: ClassVar[dict[str, str]] = {}
    # The API's input serializer for this form's operation.
    input_class: ClassVar[type[s.InputSerializer] | None] = None

    def service_values(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def validated_values(self, **context: Any) -> dict[str, Any]:
        """The posted values as ``input_class`` validates them, or InvalidInput."""
        return input_validate(self.input_class, self.service_values(), **context)

    def take_errors(self, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        left = []
        for error in errors:
            path = error.get("field") or ""
            if path in self.error_fields:
                name = self.error_fields[path]
            elif path in self.fields:
                name = path
            else:
                left.append(error)
                continue
            reason = self.reasons.get(path, str(error["reason"]))
            label = str(self.fields[name].label) if name else ""
            self.add_error(name, reason_text(label, reason))
        return left

    def absorb_errors(self, errors: list[dict[str, Any]]) -> None:
        """Like take_errors; what no field owns becomes a general error."""
        for error in self.take_errors(errors):
            field, reason = error.get("field") or "", str(error["reason"])
            self.add_error(None, reason_text(field, reason) if field else capfirst(reason))


class SettingsForm(ServiceForm):
    """Project settings, for the new-project page and the settings tab."""

    name = forms.CharField(
        label="Name",
        required=False,
        widget=forms.TextInput(attrs={"required": True, "autocomplete": "off"}),
    )
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to everyone in the project. Plain text.",
    )
    time_zone = forms.CharField(
        label="Time zone",
        required=False,
        widget=forms.Select(),
        help_text="Agreement reports count weeks in this time zone.",
    )
    overlap = forms.CharField(
        label="Overlap",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_OVERLAP, "class": "input-narrow"}),
        help_text="How many different annotators label each item.",
    )
    consensus = forms.CharField(
        label="Consensus rule",
        required=False,
        widget=forms.RadioSelect(choices=CONSENSUS_CHOICES),
    )
    consensus_k = forms.CharField(
        label="Majority size k",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "class": "input-narrow"}),
        help_text="Only with the majority rule: more than half of the overlap.",
    )
    review_policy = forms.CharField(
        label="Review policy",
        required=False,
        widget=forms.RadioSelect(choices=ReviewPolicy.choices),
    )
    audit_sample = forms.CharField(
        label="Audit sample (%)",
        required=False,
        widget=forms.NumberInput(
            attrs={"min": 0, "max": 100, "step": "any", "class": "input-narrow"}
        ),
        help_text="Share of items that reached consensus that still go to a reviewer.",
    )
    lease_minutes = forms.CharField(
        label="Lease length (minutes)",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "step": "any", "class": "input-narrow"}),
        help_text="How long an item stays reserved for the annotator who took it.",
    )
    queue_order = forms.CharField(
        label="Queue order",
        required=False,
        widget=forms.Select(choices=QueueOrder.choices),
        help_text="Which items annotators get first. Priorities are set through the API.",
    )
    queue_seed = forms.CharField(
        label="Random seed",
        required=False,
        widget=forms.NumberInput(attrs={"min": 0, "max": 2**31 - 1, "class": "input-narrow"}),
        help_text="Only for random order: the same seed keeps the same order, another reshuffles.",
    )

    audit_seed = forms.CharField(
        label="Audit seed",
        required=False,
        widget=forms.NumberInput(attrs={"min": 0, "max": 2**31 - 1, "class": "input-narrow"}),
        help_text="The same seed draws the same items for audit; another draws others.",
    )
    anonymous_review = forms.CharField(
        label="Reviewers see",
        required=False,
        widget=forms.Select(
            choices=[("named", "Who made each annotation"), ("anonymous", "Annotator A, B, …")]
        ),
    )
    reason_codes = forms.CharField(
        label="Reason codes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='One per line, "key: Name" (key in lowercase letters, digits, _ or -). '
        "Reviewers pick one with each decision.",
    )

    input_class = s.ProjectSettingsInput
    error_fields: ClassVar[dict[str, str | None]] = {
        "consensus.majority": "consensus_k",
        "lease_seconds": "lease_minutes",
    }
    reasons: ClassVar[dict[str, str]] = {
        # The page asks for a percentage and minutes; the service speaks in
        # fractions and seconds.
        "audit_sample": "must be a percentage from 0 to 100",
        "lease_seconds": "must be from 1 minute to 7 days (10080 minutes), in whole seconds",
        "consensus": "must be unanimous or a majority",
        "review_policy": "must be one of the choices",
        "queue_order": "must be one of the choices",
    }
    # Left out of service_values when the post has no such field (a form
    # rendered before they existed, still open in a tab): the queue keeps
    # its order rather than the whole form being refused.
    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "queue_order",
        "queue_seed",
        "audit_seed",
        "anonymous_review",
        "reason_codes",
    )

    DEFAULTS: ClassVar[dict[str, str]] = {
        "time_zone": "UTC",
        "overlap": "2",
        "consensus": "unanimous",
        "review_policy": ReviewPolicy.DISAGREEMENTS,
        "audit_sample": "0",
        "lease_minutes": "30",
        "queue_order": QueueOrder.IMPORT,
        "queue_seed": "0",
        "audit_seed": "0",
        "anonymous_review": "named",
        "reason_codes": "\n".join(f"{key}: {name}" for key, name in DEFAULT_REASON_CODES),
    }

    def take_errors(self, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # "reason_codes[2].key" is line 3 of the reason codes box.
        return super().take_errors([_reason_code_error(e) for e in errors])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", self.DEFAULTS)
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].widget.choices = time_zone_choices()

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, str]:
        return {
            "name": project.name,
            "description": project.description,
            "time_zone": project.time_zone,
            "overlap": str(project.overlap),
            "consensus": "unanimous" if project.consensus_majority is None else "majority",
            "consensus_k": str(project.consensus_majority or ""),
            "review_policy": project.review_policy,
            "audit_sample": _plain(project.audit_sample * 100),
            "lease_minutes": _plain(Decimal(project.lease_seconds) / 60),
            "queue_order": project.queue_order,
            "queue_seed": str(project.queue_seed),
            "audit_seed": str(project.audit_seed),
            "anonymous_review": "anonymous" if project.anonymous_review else "named",
            "reason_codes": "\n".join(f"{c['key']}: {c['name']}" for c in project.reason_codes),
        }

    def service_values(self) -> dict[str, Any]:
        """The settings as ``project_create`` / ``project_update`` take them."""
        data = self.cleaned_data
        if data["consensus"] == "majority":
            consensus: Any = {"majority": _whole_number(data["consensus_k"])}
        else:
            consensus = data["consensus"]
        values = {
            "name": data["name"],
            "description": data["description"],
            "time_zone": data["time_zone"],
            "overlap": _whole_number(data["overlap"]),
            "consensus": consensus,
            "review_policy": data["review_policy"],
            "audit_sample": _percent_to_fraction(data["audit_sample"]),
            "lease_seconds": _minutes_to_seconds(data["lease_minutes"]),
            "queue_order": data["queue_order"],
            "queue_seed": _whole_number(data["queue_seed"]),
            "audit_seed": _whole_number(data["audit_seed"]),
            "anonymous_review": data["anonymous_review"] == "anonymous",
            "reason_codes": _reason_code_lines(data["reason_codes"]),
        }
        for name in self.OPTIONAL:
            if name not in self.data:
                del values[name]
        return values


class RolesField(forms.Field):
    """The checked role boxes as a list, unchecked: the service judges them."""

    widget = forms.CheckboxSelectMultiple(choices=Role.choices)

    def to_python(self, value: Any) -> list[str]:
        return list(value or [])


class MemberAddForm(ServiceForm):
    username = forms.CharField(
        label="Username",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    roles = RolesField(label="Roles", required=False)

    input_class = s.MemberRolesInput
    error_fields: ClassVar[dict[str, str | None]] = {"user": "username"}
    member = None

    def service_values(self) -> dict[str, Any]:
        return {"roles": self.cleaned_data["roles"]}

    def clean_username(self) -> str:
        # Parsing a reference, not a rule: the name must point at someone.
        username = self.cleaned_data["username"]
        self.member = User.objects.filter(username=username, is_active=True).first()
        if self.member is None:
            raise forms.ValidationError(
                "No active user has that username." if username else "Username is required"
            )
        return username


class MemberRolesForm(ServiceForm):
    input_class = s.MemberRolesInput
    roles = RolesField(label="Roles", required=False)


class InviteForm(ServiceForm):
    input_class = s.InviteInput
    email = forms.CharField(
        label="Email",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    roles = RolesField(label="Roles", required=False)


class GuidelineForm(ServiceForm):
    input_class = s.GuidelineInput

    body = forms.CharField(
        label="Guidelines (Markdown)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "class": "input-code", "spellcheck": "true"}),
    )
    note = forms.CharField(
        label="Change note",
        required=False,
        help_text="What changed, for annotators reading the version list.",
    )

    def draft_values(self) -> dict[str, Any]:
        return input_validate(s.GuidelineDraftInput, {"body": self.cleaned_data["body"]})
