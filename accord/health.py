"""Liveness and readiness. Neither ever answers 500 (SECURITY.md G3)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return f"{len(pending)} migrations not applied"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readyz: database: %s", exc)
        return "database unreachable"
    return None


def _check_broker() -> str | None:
    if settings.EMBEDDED:
        # The filesystem broker is a folder beside the data: ready if writable.
        from pathlib import Path

        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return None if folder.is_dir() else "broker folder missing"
    try:
        # Imported here: the embedded mode has no Redis to check.
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001
        log.warning("readyz: broker: %s", exc)
        return "broker unreachable"
    return None


@never_cache
@require_safe
def readyz(request):
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(v is None for v in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {k: ("ok" if v is None else v) for k, v in checks.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)
