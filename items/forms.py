"""The items pages' forms: they turn the query string and the upload form
into what the selectors and the importer take, and put their errors back
beside the right field. The rules live in annotation.selectors and
annotation.importer, as for the API.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from projects.forms import ServiceForm

from . import parsing
from .models import ItemState

FORMAT_CHOICES = [
    ("", "Tell from the file name"),
    ("jsonl", "JSON Lines (.jsonl, .ndjson)"),
    ("json", "JSON array (.json)"),
    ("csv", "CSV (.csv)"),
    ("tsv", "TSV (.tsv)"),
]
CONFLICT_CHOICES = [
    ("skip", "Skip: keep the stored item and report the line"),
    ("update", "Update: replace the stored item, if nobody has annotated it yet"),
]
# The page's state filter. Without a state the list leaves archived items
# out (as the API does); "all" asks for every state.
ALL_STATES = "all"
STATE_CHOICES = [("", "Not archived"), *ItemState.choices, (ALL_STATES, "Any state")]
ACCEPT = ".jsonl,.ndjson,.json,.csv,.tsv"


def upload_limit_text() -> str:
    """The upload limit for people: "512 MB" rather than "512.0 MB"."""
    limit = settings.ACCORD_MAX_UPLOAD_BYTES
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return filesizeformat(limit).replace("\xa0", " ")


class ItemFilterForm(ServiceForm):
    """The list's filters, from the query string. Values are handed to
    ``selectors.items_filter`` unchanged: it judges them."""

    q = forms.CharField(
        label="Text contains",
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "autocomplete": "off", "aria-keyshortcuts": "/"}
        ),
    )
    external_id = forms.CharField(
        label="External id",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    state = forms.CharField(
        label="State", required=False, widget=forms.Select(choices=STATE_CHOICES)
    )

    OWN = ("q", "external_id", "state", "after")

    def __init__(self, data: Any = None) -> None:
        super().__init__(data, auto_id="id_filter_%s")
        self.query = data

    def selector_params(self) -> dict[str, str]:
        """The query string as ``items_filter`` reads it: empty fields left
        out, "all" as an empty state, anything else (meta.<field>, or a
        mistake) passed through for the selector to accept or refuse."""
        params: dict[str, str] = {}
        for key in self.query or {}:
            if key in self.OWN:
                continue
            params[key] = self.query.get(key, "")
        for key in ("q", "external_id"):
            value = self.cleaned_data.get(key, "")
            if value:
                params[key] = value
        state = self.cleaned_data.get("state", "")
        if state == ALL_STATES:
            params["state"] = ""
        elif state:
            params["state"] = state
        return params


class ImportForm(ServiceForm):
    file = forms.FileField(
        label="File",
        required=False,
        error_messages={"empty": "The file is empty."},
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
    format = forms.ChoiceField(label="Format", required=False, choices=FORMAT_CHOICES)
    partial = forms.BooleanField(
        label="Import the good lines even if some lines are bad",
        required=False,
        help_text="Without this, one bad line stops the import and nothing is imported.",
    )
    on_conflict = forms.ChoiceField(
        label="An external id the project already has, with other content",
        required=False,
        choices=CONFLICT_CHOICES,
        widget=forms.RadioSelect,
        initial="skip",
    )
    text_column = forms.CharField(
        label="Text column",
        required=False,
        initial="text",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The column that holds the item's text.",
    )
    id_column = forms.CharField(
        label="Id column",
        required=False,
        initial="external_id",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Optional: the column with your own id for each row. Other columns become metadata.",
    )

    reasons: ClassVar[dict[str, str]] = {
        "format": "must be JSON Lines, JSON, CSV or TSV",
        "on_conflict": "must be skip or update",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.ACCORD_MAX_UPLOAD_BYTES
        self.fields["file"].help_text = (
            "JSON Lines, a JSON array, CSV or TSV, in UTF-8, one item per line or row; "
            f"at most {upload_limit_text()}. A larger file is refused before it is read: "
            "split it, or use the API or the import_items command on the server."
        )
        # accord.js refuses a file over the limit before sending it.
        self.fields["file"].widget.attrs["data-max-bytes"] = str(limit)

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None:
            raise forms.ValidationError("Choose a file to import.")
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None and not data.get("format"):
            if parsing.guess_format(upload.name or "") is None:
                self.add_error(
                    "format",
                    "The format cannot be told from the file name: choose it here.",
                )
        return data

    def option_values(self) -> dict[str, Any]:
        """The options as ``ImportOptions.parse`` takes them."""
        data = self.cleaned_data
        return {
            "format": data["format"],
            "partial": data["partial"],
            "on_conflict": data["on_conflict"],
            "text_column": data["text_column"].strip(),
            "id_column": data["id_column"].strip(),
        }
