"""The registry of task types. Each module in this package registers one
type; ``autodiscover`` imports them all when the app is ready, so adding a
type touches only its own module, its templates and its tests."""

from __future__ import annotations

import importlib
import pkgutil

from .base import TaskType, TaskTypeError

_REGISTRY: dict[str, TaskType] = {}


class UnknownTaskType(LookupError):
    pass


def register(task_type: type[TaskType]) -> type[TaskType]:
    """Class decorator: register one instance of ``task_type`` under its key."""
    key = task_type.key
    if key in _REGISTRY and type(_REGISTRY[key]) is not task_type:
        raise ValueError(f"task type {key!r} is registered twice")
    _REGISTRY[key] = task_type()
    return task_type


def unregister(key: str) -> None:
    _REGISTRY.pop(key, None)


def get(key: str) -> TaskType:
    try:
        return _REGISTRY[key]
    except KeyError as exc:
        raise UnknownTaskType(key) from exc


def keys() -> list[str]:
    return sorted(_REGISTRY)


def choices() -> list[tuple[str, str]]:
    return [(key, _REGISTRY[key].name) for key in keys()]


def autodiscover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


__all__ = ["TaskType", "TaskTypeError", "UnknownTaskType", "register", "get", "keys", "choices"]
