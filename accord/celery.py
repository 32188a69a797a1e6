from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# The embedded mode's broker (accord/broker.py).
TRANSPORT_ALIASES["accordfs"] = "accord.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
