"""The queue's upward events: what annotation announces or asks of the apps
above it (review, agreement) without importing them. Those apps register in
their ``AppConfig.ready``, the way task types and job kinds do.

* ``item_settler``: exactly one function decides where an item whose every
  slot is submitted goes (consensus, review, gold) and returns (new item
  state, outcome). Review registers it; a second registration is refused,
  and settling with none registered fails loudly rather than leave the item
  in the queue.
* ``item_compared``: listeners told ``project_id=`` after an item was
  compared (new reliability data: the agreement report follows).
* ``counters_expected``: listeners that recount, from their own rows, the
  project counters their app writes (``{name: value}``), for the hourly
  counter reconciliation.
* ``item_gold`` and ``unseen_feedback``: the one reader of an item's gold
  record (for the lead's item page) and of how much of an annotator's
  feedback is unread (for the workspace).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class Provider:
    """A hook one app answers: one function, registered once."""

    def __init__(self, name: str):
        self.name = name
        self._function: Callable[..., Any] | None = None

    def register(self, function: Callable[..., Any]) -> None:
        if self._function is not None and self._function is not function:
            raise ImproperlyConfigured(
                f"{self.name}: {self._function.__module__}.{self._function.__qualname__} "
                "is registered already; there can be only one"
            )
        self._function = function

    def __call__(self, **kwargs: Any) -> Any:
        if self._function is None:
            raise ImproperlyConfigured(
                f"no {self.name} is registered (an app's AppConfig.ready registers it)"
            )
        return self._function(**kwargs)

    @property
    def registered(self) -> Callable[..., Any] | None:
        return self._function


class Event:
    """A hook any number of apps listen to, each called in turn."""

    def __init__(self, name: str):
        self.name = name
        self._listeners: list[Callable[..., Any]] = []

    def connect(self, listener: Callable[..., Any]) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    @property
    def listeners(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._listeners)

    def send(self, **kwargs: Any) -> list[Any]:
        """Every listener's answer, in the order they connected."""
        return [listener(**kwargs) for listener in self._listeners]


# settler(item=, project=, task_type=, config=, now=, counts=) -> (state, outcome),
# called with the item locked; the caller writes the item row.
item_settler = Provider("item settler")
# listener(project_id=)
item_compared = Event("item compared")
# listener(project=) -> {counter name: value}
counters_expected = Event("counters expected")
# reader(item_id=) -> the item's gold record or None
item_gold = Provider("item gold reader")
# reader(project=, user=) -> how many feedback notes the annotator has not seen
unseen_feedback = Provider("unseen feedback reader")
