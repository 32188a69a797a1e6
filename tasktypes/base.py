"""The task-type protocol: the one extension point of Accord.

A task type knows, for its kind of data, everything the rest of the platform
asks: which project config, item data and annotation values it accepts; when
values agree and how they merge; what agreement coefficient fits; how its
workspace and review partials look; how a gold record maps onto each export
format. The protocol is written for all seven planned types (only
classification is implemented; the agreement column names coefficients
review/agreement.py has, not reports that exist for the planned types):

==================  ===============  ==========================================
type                value            agreement
==================  ===============  ==========================================
classification      "key"            nominal alpha / kappa
(multi-label)       ["k1", "k2"]     alpha with MASI (or Jaccard) distance
spans               [{start,end,l}]  span precision / recall / F1
pairwise            {choice,...}     nominal alpha, a tie its own category
ranking             [ids in order]   ordinal alpha
rating              {criterion: n}   ordinal or interval alpha per criterion
instruction         {"response"}     none numeric: review policy "all"
==================  ===============  ==========================================

Every validator raises ``TaskTypeError`` with a list of {field, reason}; the
API turns it into a 400 and nothing is stored.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from accord.errors import InvalidInput

# Keys the workspace itself uses. Label hotkeys are single lowercase letters
# or digits; the workspace's own actions are Enter, Escape, ? and Shift+letter
# (Shift+S skip, Shift+L later, Shift+G guidelines, Shift+U undo), so a label
# hotkey can never shadow an action.
RESERVED_HOTKEYS = frozenset({"enter", "escape", "esc", "tab", "space", " ", "backspace", "?", "/"})
HOTKEY_RE = re.compile(r"^[a-z0-9]$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
# Label keys that would be ambiguous in exports and query strings.
RESERVED_KEYS = frozenset({"null", "none", "true", "false", "nan", "skip", "later", "excluded"})
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class TaskTypeError(InvalidInput):
    """A config, item or value the task type does not accept."""


class ErrorList:
    """Collects {field, reason} pairs and raises them together."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.errors: list[dict[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        full = f"{self.prefix}.{path}" if self.prefix and path else (self.prefix or path)
        self.errors.append({"field": full, "reason": reason})

    def raise_if_any(self) -> None:
        if self.errors:
            raise TaskTypeError(self.errors)


@dataclass(frozen=True)
class ConsensusRule:
    """None means unanimous; an int k means k matching values decide."""

    majority: int | None = None

    def needed(self, n_values: int) -> int:
        return n_values if self.majority is None else self.majority


@dataclass(frozen=True)
class Consensus:
    agreed: bool
    value: Any = None
    support: int = 0


@dataclass(frozen=True)
class ConfigImpact:
    """What a config change does to annotations made under the old config."""

    breaking: bool
    changes: list[str] = field(default_factory=list)
    # Decides for one stored annotation value whether the change invalidates
    # it; None with breaking=True means every annotation is affected.
    affects: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class AgreementSpec:
    """Which coefficient fits this task type, for the agreement reports."""

    coefficient: str  # "alpha", "kappa", "span_f1", "kendall_w", or "none"
    level: str  # "nominal", "ordinal", "interval", "ratio", "masi", "jaccard", "spans"
    note: str = ""


class ExportNotSupported(Exception):
    """The task type has no mapping onto that export format."""


class TaskType:
    key: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    # What the workspace shell (annotation/shell.py) takes from the type:
    # templates, relative to templates/, for the annotator's partial and the
    # reviewer's side-by-side partial, and its JS module (a static path),
    # which registers with static/js/shell.js how its keys choose and how
    # its value is read and restored (drafts). Every page loads every
    # type's module (base.html), since htmx runs no script it swaps in.
    workspace_template: ClassVar[str] = ""
    review_template: ClassVar[str] = ""
    script: ClassVar[str] = ""
    # The item data fields, in order: CSV imports take these columns as data
    # and keep the others as metadata.
    item_fields: ClassVar[tuple[str, ...]] = ("text",)

    # --- config -----------------------------------------------------------
    def validate_config(self, config: Any) -> dict:
        """Return the normalised config or raise TaskTypeError."""
        raise NotImplementedError

    def config_impact(self, old: dict, new: dict) -> ConfigImpact:
        """Describe what moving from ``old`` to ``new`` does to annotations."""
        raise NotImplementedError

    def hotkeys(self, config: dict) -> dict[str, str]:
        """hotkey → what it chooses, for the workspace and its key map."""
        return {}

    # --- items ------------------------------------------------------------
    def validate_item(self, data: Any, config: dict) -> dict:
        """Return the item data to store (byte-exact strings) or raise."""
        raise NotImplementedError

    def item_text(self, data: dict) -> str:
        """The text searched and shown in lists."""
        return str(data.get("text", ""))

    # --- values -----------------------------------------------------------
    def validate_value(self, value: Any, config: dict, item_data: dict | None = None) -> Any:
        """Return the canonical value (equal values compare equal) or raise."""
        raise NotImplementedError

    def display_value(self, value: Any, config: dict) -> str:
        return str(value)

    def form_value(self, form: Mapping[str, Any], config: dict) -> Any:
        """The value the workspace's HTML form posted (a QueryDict), before
        validation. By default the ``value`` field holds it as JSON (a
        workspace partial with a widget that writes JSON); a type whose
        partial is plain form controls reads them itself."""
        raw = form.get("value")
        if raw in (None, ""):
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def consensus(self, values: Sequence[Any], rule: ConsensusRule, config: dict) -> Consensus:
        """Decide whether canonical ``values`` agree under ``rule``.

        The default counts equal values; types with partial credit (spans,
        rankings) override it.
        """
        if not values:
            return Consensus(agreed=False)
        counts = Counter(self.value_key(v) for v in values)
        key, support = counts.most_common(1)[0]
        if support >= rule.needed(len(values)):
            value = next(v for v in values if self.value_key(v) == key)
            return Consensus(agreed=True, value=value, support=support)
        return Consensus(agreed=False, support=support)

    def value_key(self, value: Any) -> Any:
        """A hashable form of a canonical value, for counting equal values."""
        if isinstance(value, list):
            return tuple(self.value_key(v) for v in value)
        if isinstance(value, dict):
            return tuple(sorted((k, self.value_key(v)) for k, v in value.items()))
        return value

    def merge(self, values: Sequence[Any], config: dict) -> Any | None:
        """A merged value where merging is defined (None where it is not)."""
        return None

    # --- agreement --------------------------------------------------------
    def agreement_spec(self, config: dict) -> AgreementSpec:
        raise NotImplementedError

    def agreement_categories(self, value: Any, config: dict) -> list[str]:
        """The categories a value names, for per-label (one-vs-rest) figures."""
        return []

    # --- export -----------------------------------------------------------
    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        """Flat fields for JSONL / CSV / Parquet / datasets."""
        raise NotImplementedError

    def chat_messages(
        self, item_data: dict, value: Any, config: dict, *, system: str, template: str
    ) -> list[dict]:
        raise ExportNotSupported(f"{self.key} has no chat fine-tuning mapping")

    def preference_pair(self, item_data: dict, value: Any, config: dict) -> dict:
        raise ExportNotSupported(f"{self.key} has no preference mapping")


def check_text(errors: ErrorList, data: dict, name: str, *, max_length: int) -> None:
    value = data.get(name)
    if value is None:
        errors.add(name, "is required")
    elif not isinstance(value, str):
        errors.add(name, "must be a string")
    elif not value.strip():
        errors.add(name, "must not be empty")
    elif len(value) > max_length:
        errors.add(name, f"is longer than {max_length} characters")
    elif "\x00" in value:
        errors.add(name, "must not contain NUL characters")


def check_no_unknown(errors: ErrorList, data: dict, allowed: set[str], hint: str = "") -> None:
    if data.keys() <= allowed:  # the common case, checked without building sets
        return
    for name in sorted(set(data) - allowed, key=str):
        errors.add(str(name), "unknown field" + (f"; {hint}" if hint else ""))
