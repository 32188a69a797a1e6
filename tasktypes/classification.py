"""Single- and multi-label text classification.

Config: {"multi_label": false, "labels": [{"key": "pos", "name": "Positive",
"hotkey": "p", "color": "#2e7d32", "description": "…"}]} (only key and name
required). Item data: {"text": "…"}. Value: a label key, or a list of keys
when multi-label (stored sorted, without repeats).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import register
from .base import (
    COLOR_RE,
    HOTKEY_RE,
    KEY_RE,
    RESERVED_HOTKEYS,
    RESERVED_KEYS,
    AgreementSpec,
    ConfigImpact,
    ErrorList,
    TaskType,
    TaskTypeError,
    check_no_unknown,
    check_text,
)

MAX_LABELS = 200
MAX_TEXT = 1_000_000
LABEL_FIELDS = {"key", "name", "hotkey", "color", "description"}


def _check_label(errors: ErrorList, index: int, label: Any, seen: dict[str, set]) -> dict | None:
    path = f"labels[{index}]"
    if not isinstance(label, dict):
        errors.add(path, "must be an object with at least key and name")
        return None
    for name in sorted(set(label) - LABEL_FIELDS):
        errors.add(f"{path}.{name}", "unknown field")
    key = label.get("key")
    if key is None or key == "":
        errors.add(f"{path}.key", "is required")
    elif not isinstance(key, str) or not KEY_RE.match(key):
        errors.add(
            f"{path}.key",
            "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    elif key.lower() in RESERVED_KEYS:
        errors.add(f"{path}.key", f"{key!r} is reserved")
    elif key in seen["key"]:
        errors.add(f"{path}.key", f"duplicate key {key!r}")
    name = label.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add(f"{path}.name", "is required")
    elif len(name) > 100:
        errors.add(f"{path}.name", "is longer than 100 characters")
    elif name.strip().lower() in seen["name"]:
        errors.add(f"{path}.name", f"duplicate name {name!r}")
    hotkey = label.get("hotkey")
    if hotkey is not None and hotkey != "":
        if not isinstance(hotkey, str):
            errors.add(f"{path}.hotkey", "must be a string")
        elif hotkey.lower() in RESERVED_HOTKEYS or (len(hotkey) == 1 and hotkey.isupper()):
            errors.add(f"{path}.hotkey", f"{hotkey!r} is reserved by the workspace")
        elif not HOTKEY_RE.match(hotkey):
            errors.add(f"{path}.hotkey", "must be a single lowercase letter or digit")
        elif hotkey in seen["hotkey"]:
            errors.add(f"{path}.hotkey", f"duplicate hotkey {hotkey!r}")
    color = label.get("color")
    if color not in (None, "") and (not isinstance(color, str) or not COLOR_RE.match(color)):
        errors.add(f"{path}.color", "must be a colour like #2e7d32")
    description = label.get("description")
    if description not in (None, "") and (
        not isinstance(description, str) or len(description) > 2000
    ):
        errors.add(f"{path}.description", "must be a string of at most 2000 characters")
    if not isinstance(key, str) or not isinstance(name, str):
        return None
    seen["key"].add(key)
    seen["name"].add(name.strip().lower())
    out = {"key": key, "name": name.strip()}
    if isinstance(hotkey, str) and hotkey:
        seen["hotkey"].add(hotkey)
        out["hotkey"] = hotkey
    if isinstance(color, str) and color:
        out["color"] = color.lower()
    if isinstance(description, str) and description:
        out["description"] = description
    return out


@register
class Classification(TaskType):
    key = "classification"
    name = "Text classification"
    description = "Choose one label (or several, when multi-label) for each text."
    workspace_template = "tasktypes/classification/workspace.html"
    review_template = "tasktypes/classification/review.html"
    script = "js/tasktypes/classification.js"

    def validate_config(self, config: Any) -> dict:
        errors = ErrorList()
        if not isinstance(config, dict):
            raise TaskTypeError([{"field": "config", "reason": "must be an object"}])
        check_no_unknown(errors, config, {"multi_label", "labels"})
        multi = config.get("multi_label", False)
        if not isinstance(multi, bool):
            errors.add("multi_label", "must be true or false")
        labels = config.get("labels")
        out_labels: list[dict] = []
        if not isinstance(labels, list) or not labels:
            errors.add("labels", "must be a non-empty list")
        elif len(labels) > MAX_LABELS:
            errors.add("labels", f"at most {MAX_LABELS} labels")
        else:
            seen: dict[str, set] = {"key": set(), "name": set(), "hotkey": set()}
            for index, label in enumerate(labels):
                normalised = _check_label(errors, index, label, seen)
                if normalised is not None:
                    out_labels.append(normalised)
            if len(labels) < 2 and not multi:
                errors.add("labels", "a single-label project needs at least two labels")
        errors.raise_if_any()
        return {"multi_label": bool(multi), "labels": out_labels}

    def config_impact(self, old: dict, new: dict) -> ConfigImpact:
        changes: list[str] = []
        old_keys = {label["key"]: label for label in old.get("labels", [])}
        new_keys = {label["key"]: label for label in new.get("labels", [])}
        removed = sorted(set(old_keys) - set(new_keys))
        added = sorted(set(new_keys) - set(old_keys))
        for key in added:
            changes.append(f"adds label {key!r}")
        for key in sorted(set(old_keys) & set(new_keys)):
            for attr in ("name", "hotkey", "color", "description"):
                if old_keys[key].get(attr) != new_keys[key].get(attr):
                    changes.append(f"changes the {attr} of label {key!r}")
        if bool(old.get("multi_label")) != bool(new.get("multi_label")):
            kind = "multi-label" if new.get("multi_label") else "single-label"
            changes.append(f"switches to {kind}: every existing annotation no longer fits")
            return ConfigImpact(
                breaking=True, changes=changes + [f"removes label {k!r}" for k in removed]
            )
        if removed:
            gone = set(removed)
            changes.extend(f"removes label {key!r}" for key in removed)

            def affects(value: Any) -> bool:
                values = value if isinstance(value, list) else [value]
                return any(v in gone for v in values)

            return ConfigImpact(breaking=True, changes=changes, affects=affects)
        return ConfigImpact(breaking=False, changes=changes)

    def hotkeys(self, config: dict) -> dict[str, str]:
        return {label["hotkey"]: label["key"] for label in config["labels"] if label.get("hotkey")}

    def validate_item(self, data: Any, config: dict) -> dict:
        if not isinstance(data, dict):
            raise TaskTypeError(
                [{"field": "data", "reason": "must be an object with a text field"}]
            )
        errors = ErrorList()
        check_no_unknown(errors, data, {"text"}, hint="put extra fields in meta")
        check_text(errors, data, "text", max_length=MAX_TEXT)
        errors.raise_if_any()
        return {"text": data["text"]}

    def validate_value(self, value: Any, config: dict, item_data: dict | None = None) -> Any:
        keys = [label["key"] for label in config["labels"]]
        if config.get("multi_label"):
            if not isinstance(value, list):
                raise TaskTypeError([{"field": "value", "reason": "must be a list of label keys"}])
            if len(value) > len(keys):
                raise TaskTypeError(
                    [{"field": "value", "reason": "more labels than the schema has"}]
                )
            bad = [v for v in value if not isinstance(v, str) or v not in keys]
            if bad:
                raise TaskTypeError([{"field": "value", "reason": f"unknown label {bad[0]!r}"}])
            if len(set(value)) != len(value):
                raise TaskTypeError([{"field": "value", "reason": "a label is repeated"}])
            return sorted(value, key=keys.index)
        if isinstance(value, list):
            raise TaskTypeError(
                [{"field": "value", "reason": "this project is single-label: give one label key"}]
            )
        if not isinstance(value, str) or value not in keys:
            raise TaskTypeError([{"field": "value", "reason": f"unknown label {value!r}"[:200]}])
        return value

    def display_value(self, value: Any, config: dict) -> str:
        names = {label["key"]: label["name"] for label in config["labels"]}
        if isinstance(value, list):
            return ", ".join(names.get(v, v) for v in value) or "(none)"
        return names.get(value, str(value))

    def form_value(self, form: Mapping[str, Any], config: dict) -> Any:
        # Radio buttons (one key) or checkboxes (every checked key), all named "value".
        if config.get("multi_label"):
            return form.getlist("value") if hasattr(form, "getlist") else form.get("value", [])
        return form.get("value") or None

    def merge(self, values: Sequence[Any], config: dict) -> Any | None:
        if not config.get("multi_label") or not values:
            return None
        # The labels every annotator chose: a conservative merge of sets.
        common = set(values[0]).intersection(*map(set, values[1:]))
        keys = [label["key"] for label in config["labels"]]
        return [k for k in keys if k in common]

    def agreement_spec(self, config: dict) -> AgreementSpec:
        if config.get("multi_label"):
            return AgreementSpec(
                "alpha", "masi", "Krippendorff's alpha with MASI distance over label sets"
            )
        return AgreementSpec(
            "alpha", "nominal", "Krippendorff's alpha (nominal); Cohen's kappa per pair"
        )

    def agreement_categories(self, value: Any, config: dict) -> list[str]:
        return list(value) if isinstance(value, list) else [value]

    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        key = "labels" if config.get("multi_label") else "label"
        return {"text": item_data["text"], key: value}

    def chat_messages(
        self, item_data: dict, value: Any, config: dict, *, system: str, template: str
    ) -> list[dict]:
        labels = ", ".join(label["key"] for label in config["labels"])
        prompt = template.replace("{text}", item_data["text"]).replace("{labels}", labels)
        answer = ", ".join(value) if isinstance(value, list) else value
        messages = [{"role": "system", "content": system}] if system else []
        return messages + [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]
