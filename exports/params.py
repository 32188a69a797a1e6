"""An export request's parameters: checked and normalised, or refused with
the field and the reason (InvalidInput: a 400, nothing stored); and the
request key that finds an identical earlier request of the same gold."""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import tasktypes
from accord.errors import InvalidInput
from accord.sql import dialect
from projects.models import Project
from projects.services import project_config
from review.models import GoldSource

from . import formats
from .formats.base import ExportOptions
from .query import ANNOTATION, GOLD, ITEM, REVISION
from .splits import split_spec_parse, splits_check_names

FILTER_KEYS = (
    "source",
    "min_guideline_version",
    "labels",
    "decided_from",
    "decided_to",
    "include_excluded",
)
OPTION_KEYS = ("provenance", "include_meta", "system_prompt", "prompt_template")
REQUEST_KEYS = ("format", "splits", "group_by", "filters", "options", "dry_run")
MAX_TEXT = 10_000


def _labels_of(config: dict) -> set[str] | None:
    labels = config.get("labels")
    if not isinstance(labels, list):
        return None
    return {label["key"] for label in labels if isinstance(label, dict) and "key" in label}


def _time(raw: Any, name: str) -> str | None:
    if raw is None:
        return None
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise InvalidInput("must be an ISO 8601 time", field=f"filters.{name}")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _filters_parse(raw: Any, config: dict) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("must be an object", field="filters")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise InvalidInput(
            [{"field": f"filters.{str(k)[:100]}", "reason": "unknown filter"} for k in unknown]
        )
    out: dict[str, Any] = {}
    source = raw.get("source")
    if isinstance(source, str):
        source = [source]
    if source is not None:
        valid = set(GoldSource.values)
        if not isinstance(source, list) or not source or not set(source) <= valid:
            raise InvalidInput(
                f"must be a list of gold sources ({', '.join(sorted(valid))})",
                field="filters.source",
            )
        source = sorted(set(source))
    out["source"] = source
    version = raw.get("min_guideline_version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise InvalidInput("must be a whole number from 1", field="filters.min_guideline_version")
    out["min_guideline_version"] = version
    labels = raw.get("labels")
    if labels is not None:
        known = _labels_of(config)
        if known is None:
            raise InvalidInput("this task type has no labels", field="filters.labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            raise InvalidInput("must be a list of label keys", field="filters.labels")
        bad = sorted(set(labels) - known)
        if bad:
            raise InvalidInput(f"unknown label {bad[0][:100]!r}", field="filters.labels")
        labels = sorted(set(labels))
    out["labels"] = labels
    out["decided_from"] = _time(raw.get("decided_from"), "decided_from")
    out["decided_to"] = _time(raw.get("decided_to"), "decided_to")
    if out["decided_from"] and out["decided_to"] and out["decided_from"] >= out["decided_to"]:
        raise InvalidInput("must be after decided_from", field="filters.decided_to")
    excluded = raw.get("include_excluded", False)
    if not isinstance(excluded, bool):
        raise InvalidInput("must be true or false", field="filters.include_excluded")
    out["include_excluded"] = excluded
    return out


def _options_parse(raw: Any) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("must be an object", field="options")
    unknown = sorted(set(raw) - set(OPTION_KEYS))
    if unknown:
        raise InvalidInput(
            [{"field": f"options.{str(k)[:100]}", "reason": "unknown option"} for k in unknown]
        )
    defaults = ExportOptions()
    out: dict[str, Any] = {}
    for name in ("provenance", "include_meta"):
        flag = raw.get(name, getattr(defaults, name))
        if not isinstance(flag, bool):
            raise InvalidInput("must be true or false", field=f"options.{name}")
        out[name] = flag
    for name in ("system_prompt", "prompt_template"):
        text = raw.get(name, getattr(defaults, name))
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise InvalidInput(
                f"must be text of at most {MAX_TEXT} characters", field=f"options.{name}"
            )
        out[name] = text
    return out


def is_dry_run(raw: Any) -> bool:
    """Whether the request asks only for the split sizes (``"dry_run":
    true``); any other value of the field is refused by the parser."""
    return isinstance(raw, dict) and raw.get("dry_run") is True


def export_params_parse(*, project: Project, raw: Any) -> dict:
    """The request's parameters, checked and normalised (defaults filled,
    lists sorted), or InvalidInput with the field and the reason. The
    ``dry_run`` flag is checked but is no parameter of the version."""
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(raw) - set(REQUEST_KEYS))
    if unknown:
        raise InvalidInput([{"field": str(k)[:100], "reason": "unknown field"} for k in unknown])
    if not isinstance(raw.get("dry_run", False), bool):
        raise InvalidInput("must be true or false", field="dry_run")
    key = raw.get("format")
    try:
        fmt = formats.get(key) if isinstance(key, str) else None
    except KeyError:
        fmt = None
    if fmt is None:
        raise InvalidInput(
            f"unknown format; one of {', '.join(sorted(formats.keys()))}", field="format"
        )
    config = project_config(project)
    task_type = tasktypes.get(config.task_type)
    if not fmt.supports(task_type):
        raise InvalidInput(
            f"a {config.task_type} project cannot be exported as {fmt.key}", field="format"
        )
    spec = split_spec_parse(raw.get("splits"))
    splits_check_names(project, spec)
    group_by = raw.get("group_by")
    if group_by is not None:
        if not isinstance(group_by, str) or not group_by or len(group_by) > 100:
            raise InvalidInput("must be a metadata field name", field="group_by")
        if not _gold_has_meta(project, group_by):
            raise InvalidInput(
                f"no gold item of this project has the metadata field {group_by!r}",
                field="group_by",
            )
    return {
        "format": fmt.key,
        "splits": spec,
        "group_by": group_by,
        "filters": _filters_parse(raw.get("filters"), config.config),
        "options": _options_parse(raw.get("options")),
    }


def _gold_has_meta(project: Project, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {GOLD} g JOIN {ITEM} i ON i.id = g.item_id "  # noqa: S608
            f"WHERE g.project_id = %s AND {dialect().has_key('i.meta')})",
            [project.pk, name],
        )
        return bool(cursor.fetchone()[0])


def gold_state(project: Project, *, raw: bool = False) -> str:
    """A fingerprint of the project's gold: it changes with every new gold
    record, every re-adjudication (a new revision) and, for raw exports,
    every new annotation."""
    parts = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), COALESCE(max(id), 0), COALESCE(sum(revision), 0) FROM {GOLD} "  # noqa: S608
            "WHERE project_id = %s",
            [project.pk],
        )
        parts.append("gold={}/{}/{}".format(*cursor.fetchone()))
        cursor.execute(
            f"SELECT count(*), COALESCE(max(id), 0) FROM {REVISION} WHERE project_id = %s",  # noqa: S608
            [project.pk],
        )
        parts.append("rev={}/{}".format(*cursor.fetchone()))
        if raw:
            cursor.execute(
                f"SELECT count(*), COALESCE(max(id), 0), COALESCE(sum(revision), 0) "  # noqa: S608
                f"FROM {ANNOTATION} WHERE project_id = %s",
                [project.pk],
            )
            parts.append("ann={}/{}/{}".format(*cursor.fetchone()))
    parts.append(f"config={project.config_version}")
    return ";".join(parts)[:200]


def request_key(params: dict, state: str) -> str:
    return hashlib.sha256(
        orjson.dumps({"params": params, "gold": state}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
