"""The label schema's forms: the schema's own fields, the label editor's
rows, and the two pages that post them (a new project; the settings tab's
schema). Like projects.forms, they parse and place errors; the API's input
serializers and the task type judge."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django import forms

import tasktypes

from . import serializers as s
from .fields import input_validate
from .forms import ServiceForm, SettingsForm, reason_text

LABEL_FIELDS = ("key", "name", "hotkey", "color", "description")


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

    def validated_values(self) -> dict[str, Any]:
        """The new project's values as the API's ProjectCreateInput validates them."""
        return input_validate(s.ProjectCreateInput, self.service_values())

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

    def validated_values(self) -> dict[str, Any]:
        """The config and note as the API's ConfigInput validates them."""
        values = {"config": self.config(), "note": self.schema.cleaned_data["note"]}
        return input_validate(s.ConfigInput, values)

    def take_errors(self, errors: list[dict[str, Any]]) -> None:
        left = self.labels.take_errors(self.schema.take_errors(errors))
        self.general.extend(str(e["reason"]) for e in left)
