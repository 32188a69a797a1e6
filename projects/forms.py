"""The project pages' forms: they turn posted text into the arguments the
services take, and put the services' errors back beside the right field.

No rule lives here. Every field is optional text; what cannot be parsed
(``"abc"`` for an overlap) is handed to the service unchanged, so the one
validation in projects.services and the task type answers for the pages
exactly as it does for the API.
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

import tasktypes

from .models import DEFAULT_REASON_CODES, Project, QueueOrder, ReviewPolicy, Role
from .services import MAX_OVERLAP

User = get_user_model()

CONSENSUS_CHOICES = [
    ("unanimous", "Unanimous: every annotation must match"),
    ("majority", "Majority: k matching annotations decide"),
]
LABEL_FIELDS = ("key", "name", "hotkey", "color", "description")


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


class SchemaForm(ServiceForm):
    """The label schema's own fields; its labels come from LabelFormSet."""

    task_type = forms.CharField(label="Task type", required=False, widget=forms.Select())
    multi_label = forms.BooleanField(
        label="Multi-label: an item may get several labels",
        required=False,
    )
    note = forms.CharField(
        label="Change note",
        required=False,
        help_text="Optional: why the schema changes, kept with the version.",
    )

    error_fields: ClassVar[dict[str, str | None]] = {
        "config": None,
        "config.labels": None,
        "config.multi_label": "multi_label",
    }

    def __init__(self, *args: Any, creating: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if creating:
            self.fields["task_type"].widget.choices = tasktypes.choices()
            del self.fields["note"]
        else:
            # The task type is fixed once a project exists (the editor below
            # is the label editor); the API can still change it.
            del self.fields["task_type"]


class LabelForm(forms.Form):
    key = forms.CharField(
        label="Key",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    name = forms.CharField(label="Name", required=False)
    hotkey = forms.CharField(
        label="Hotkey",
        required=False,
        widget=forms.TextInput(attrs={"maxlength": 1, "class": "input-hotkey"}),
    )
    color = forms.CharField(
        label="Colour",
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": "#2e7d32", "class": "input-color", "spellcheck": "false"}
        ),
    )
    description = forms.CharField(label="Description", required=False)


_LABEL_PATH = re.compile(r"^config\.labels\[(\d+)\](?:\.(\w+))?$")


class BaseLabelFormSet(forms.BaseFormSet):
    """Rows of the label editor. Blank rows are dropped, so ``rows`` maps a
    label's position in the config (what the errors name) to its row."""

    rows: list[int]

    def labels(self) -> list[dict[str, str]]:
        self.rows = []
        out = []
        for index, form in enumerate(self.forms):
            data = {name: form.cleaned_data.get(name) or "" for name in LABEL_FIELDS}
            if not any(data.values()):
                continue
            label = {"key": data["key"], "name": data["name"]}
            label.update({name: data[name] for name in LABEL_FIELDS[2:] if data[name]})
            out.append(label)
            self.rows.append(index)
        return out

    def take_errors(self, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        left = []
        for error in errors:
            match = _LABEL_PATH.match(error.get("field") or "")
            if match is None or int(match[1]) >= len(self.rows):
                left.append(error)
                continue
            form = self.forms[self.rows[int(match[1])]]
            name = match[2] if match[2] in form.fields else None
            # No field name in the text: the column header already says it.
            form.add_error(name, reason_text("", str(error["reason"])))
        return left


LabelFormSet = forms.formset_factory(
    LabelForm, formset=BaseLabelFormSet, extra=0, max_num=500, absolute_max=500
)


def label_formset(data=None, *, labels: list[dict] | None = None) -> BaseLabelFormSet:
    if data is not None:
        return LabelFormSet(data, prefix="labels")
    initial = [{name: label.get(name, "") for name in LABEL_FIELDS} for label in labels or []]
    return LabelFormSet(prefix="labels", initial=initial or [{}, {}])


def with_blank_label(data) -> BaseLabelFormSet:
    """The posted editor with one more empty row (the "Add label" button
    without JavaScript)."""
    data = data.copy()
    try:
        total = int(data.get("labels-TOTAL_FORMS", "0"))
    except ValueError:
        total = 0
    data["labels-TOTAL_FORMS"] = str(min(total + 1, LabelFormSet.absolute_max))
    return LabelFormSet(data, prefix="labels")


class ProjectEditor:
    """The new-project page: settings, schema and labels posted together."""

    def __init__(self, data=None) -> None:
        self.settings = SettingsForm(data)
        self.schema = SchemaForm(data, creating=True)
        self.labels = label_formset(data)
        self.general: list[str] = []

    def is_valid(self) -> bool:
        valid = [self.settings.is_valid(), self.schema.is_valid(), self.labels.is_valid()]
        if not self.labels.is_valid():
            self.general.append("The label table was incomplete: reload the page and try again.")
        return all(valid)

    def service_values(self) -> dict[str, Any]:
        return {
            **self.settings.service_values(),
            "task_type": self.schema.cleaned_data["task_type"],
            "config": {
                "multi_label": self.schema.cleaned_data["multi_label"],
                "labels": self.labels.labels(),
            },
        }

    def take_errors(self, errors: list[dict[str, Any]]) -> None:
        left = self.settings.take_errors(errors)
        left = self.schema.take_errors(left)
        left = self.labels.take_errors(left)
        self.general.extend(
            reason_text(e.get("field") or "", str(e["reason"])) if e.get("field") else e["reason"]
            for e in left
        )


class SchemaEditor:
    """The settings tab's label schema: multi-label, labels and a note."""

    def __init__(self, data=None, *, config: dict | None = None) -> None:
        if data is None:
            config = config or {}
            self.schema = SchemaForm(initial={"multi_label": bool(config.get("multi_label"))})
            self.labels = label_formset(labels=config.get("labels", []))
        else:
            self.schema = SchemaForm(data)
            self.labels = label_formset(data)
        self.general: list[str] = []

    def is_valid(self) -> bool:
        valid = [self.schema.is_valid(), self.labels.is_valid()]
        if not self.labels.is_valid():
            self.general.append("The label table was incomplete: reload the page and try again.")
        return all(valid)

    def config(self) -> dict[str, Any]:
        return {
            "multi_label": self.schema.cleaned_data["multi_label"],
            "labels": self.labels.labels(),
        }

    def take_errors(self, errors: list[dict[str, Any]]) -> None:
        left = self.labels.take_errors(self.schema.take_errors(errors))
        self.general.extend(str(e["reason"]) for e in left)


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

    error_fields: ClassVar[dict[str, str | None]] = {"user": "username"}
    member = None

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
    roles = RolesField(label="Roles", required=False)


class InviteForm(ServiceForm):
    email = forms.CharField(
        label="Email",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    roles = RolesField(label="Roles", required=False)


class GuidelineForm(ServiceForm):
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
