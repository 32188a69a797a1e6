"""What projects asks of the apps above it, without importing them.

projects sits below annotation, review and exports: they import it, never
the other way round. Where a project write must start their work (a
requeue, reviews for unresolved items) or a project read needs their
figures, projects calls a hook declared here, and the app that owns the
work connects its function in its ``AppConfig.ready``. A hook nobody
connected is a configuration error, raised where it is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class Hook:
    """One function that exactly one higher app provides."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.provider: Callable[..., Any] | None = None

    def connect(self, provider: Callable[..., Any]) -> None:
        if self.provider is not None and self.provider is not provider:
            raise ImproperlyConfigured(f"{self.name} is provided twice")
        self.provider = provider

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.provider is None:
            raise ImproperlyConfigured(f"no installed app provides {self.name}")
        return self.provider(*args, **kwargs)


# (*, project) -> None: review was off and is on; the items that ended
# without consensus go to review now (review).
review_turned_on = Hook("review_turned_on")
# (*, project, user, reason) -> None: overlap or order changed; the queue is
# re-ranked and resized by a job (annotation).
queue_requeue = Hook("queue_requeue")
# (*, project) -> iterable of annotation values, for a config change's
# impact (annotation).
annotation_values = Hook("annotation_values")
# (project) -> [{user, username, annotations, skips}] (annotation).
annotator_counts = Hook("annotator_counts")
# () -> the item states, in order, that the item counts report (annotation).
item_states = Hook("item_states")
