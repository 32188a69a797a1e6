"""A project's label schema as its task type judges it: the known task
types, and a config in the task type's normal form."""

from __future__ import annotations

from typing import Any

import tasktypes
from accord.errors import InvalidInput


def task_type_known(key: str) -> str:
    if key not in tasktypes.keys():
        raise InvalidInput(
            f"unknown task type {key!r}; known: {', '.join(tasktypes.keys())}", field="task_type"
        )
    return key


def config_normalise(task_type_key: Any, config: Any) -> dict:
    """``config`` in ``task_type_key``'s normal form, or InvalidInput naming
    each problem under ``config.``; the stored config is always normalised,
    whoever calls."""
    if not isinstance(task_type_key, str):
        raise InvalidInput("is required", field="task_type")
    task_type = tasktypes.get(task_type_known(task_type_key))
    try:
        return task_type.validate_config(config)
    except tasktypes.TaskTypeError as exc:
        raise InvalidInput(
            [
                {
                    "field": f"config.{e['field']}" if e["field"] != "config" else "config",
                    "reason": e["reason"],
                }
                for e in exc.errors
            ]
        ) from None
