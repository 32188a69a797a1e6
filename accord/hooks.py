"""Hooks: how an app tells the apps above it that something happened, or
asks them a question, without importing them.

Apps import only downward (docs/architecture.md). When a lower app needs a
higher one — the queue's "this item is complete" must reach review, an
import's new items must reach the annotators' cursors — the lower app
declares a hook in its ``hooks.py`` and calls it; the higher app connects
its function in ``AppConfig.ready``. A hook is declared with the keyword
arguments it is called with, so a listener with the wrong signature fails
at start-up, not on the first call.

* ``Event``: any number of listeners, called in the order they connected;
  ``send`` returns their answers in that order.
* ``Provider``: exactly one function answers; calling it with none
  connected is a programming error (``LookupError``), and so is connecting
  a second.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class _Hook:
    def __init__(self, name: str, *, arguments: tuple[str, ...]) -> None:
        self.name = name
        self.arguments = frozenset(arguments)

    def _check(self, function: Callable[..., Any]) -> None:
        parameters = inspect.signature(function).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        named = {
            name
            for name, p in parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }
        if not takes_any and not self.arguments <= named:
            missing = ", ".join(sorted(self.arguments - named))
            raise TypeError(f"{function.__qualname__} cannot take {self.name}'s {missing}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Event(_Hook):
    def __init__(self, name: str, *, arguments: tuple[str, ...]) -> None:
        super().__init__(name, arguments=arguments)
        self._listeners: list[Callable[..., Any]] = []

    def connect(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        self._check(listener)
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def disconnect(self, listener: Callable[..., Any]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def listeners(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._listeners)

    def send(self, **arguments: Any) -> list[Any]:
        """Every listener's answer, in the order they connected."""
        return [listener(**arguments) for listener in list(self._listeners)]


class Provider(_Hook):
    def __init__(self, name: str, *, arguments: tuple[str, ...]) -> None:
        super().__init__(name, arguments=arguments)
        self._function: Callable[..., Any] | None = None

    def connect(self, function: Callable[..., Any]) -> Callable[..., Any]:
        self._check(function)
        if self._function is not None and self._function is not function:
            raise ValueError(f"{self.name} already has a provider: {self._function.__qualname__}")
        self._function = function
        return function

    @property
    def function(self) -> Callable[..., Any] | None:
        return self._function

    def __call__(self, **arguments: Any) -> Any:
        if self._function is None:
            raise LookupError(f"nothing provides {self.name}: is its app installed?")
        return self._function(**arguments)
