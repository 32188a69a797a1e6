from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready
from kombu.transport import TRANSPORT_ALIASES

# The embedded mode's broker (accord/broker.py).
TRANSPORT_ALIASES["accordfs"] = "accord.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _mark_ready(**_: object) -> None:
    """Touch ACCORD_WORKER_READY_FILE, if set: ``accord embedded`` waits for
    it before printing the demo passwords, so they come after the worker's
    banner instead of scrolling away behind it."""
    marker = os.environ.get("ACCORD_WORKER_READY_FILE")
    if marker:
        Path(marker).touch()
