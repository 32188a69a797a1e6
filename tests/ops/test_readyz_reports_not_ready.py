"""/readyz answers 503 with JSON saying what is wrong, never a 500, when the
database or the broker cannot be used; /healthz (liveness) still answers 200
so an orchestrator does not restart a web process for a database outage.

Each case starts a real gunicorn in a subprocess with a broken configuration.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from .helpers import Process, free_port, http, scrubbed_env, wait_for_status

CLOSED_PORT = 1  # nothing listens on port 1 on a test machine
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/accord")


def _with(url: str, *, port: int | None = None, path: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = (
            f"{netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}" if "@" in netloc else f"127.0.0.1:{port}"
        )
    return urlunsplit(parts._replace(netloc=netloc, path=path if path is not None else parts.path))


def _server_env(**values: str) -> dict[str, str]:
    # HTTPS stays on (the production default): the probes must not be
    # redirected to https.
    return scrubbed_env(SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="127.0.0.1", **values)


def _readyz(env: dict[str, str]):
    port = free_port()
    proc = Process.start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "accord.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
        ],
        env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for_status(f"{base}/healthz", 200, 30, alive=proc.alive), proc.output
        return http(f"{base}/readyz")
    finally:
        proc.stop(timeout=10, signum=signal.SIGINT)  # gunicorn's quick shutdown


def _assert_not_ready(answer, **checks: str) -> None:
    assert answer.status == 503
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["status"] == "not ready"
    for name, expected in checks.items():
        assert expected in body["checks"][name], body


@pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="needs a PostgreSQL URL")
def test_database_port_closed():
    env = _server_env(DATABASE_URL=_with(DATABASE_URL, port=CLOSED_PORT), REDIS_URL=REDIS_URL)
    _assert_not_ready(_readyz(env), database="database unreachable", broker="ok")


@pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="needs a PostgreSQL URL")
def test_database_does_not_exist():
    env = _server_env(
        DATABASE_URL=_with(DATABASE_URL, path="/accord_no_such_database"), REDIS_URL=REDIS_URL
    )
    _assert_not_ready(_readyz(env), database="database unreachable")


def test_database_and_broker_unreachable():
    env = _server_env(
        DATABASE_URL=f"postgres://accord@127.0.0.1:{CLOSED_PORT}/accord",
        REDIS_URL=f"redis://127.0.0.1:{CLOSED_PORT}/0",
    )
    _assert_not_ready(_readyz(env), database="database unreachable", broker="broker unreachable")


def test_migrations_not_applied(tmp_path):
    # A data folder nobody migrated: the database answers but is not ready.
    env = scrubbed_env(ACCORD_MODE="embedded", ACCORD_DATA_DIR=str(tmp_path / "data"))
    _assert_not_ready(_readyz(env), database="migrations not applied", broker="ok")
