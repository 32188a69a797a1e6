"""The embedded mode's filesystem broker: an empty and a truncated message
file in the queue folder (a process stopped mid-write, a reader that raced a
writer) are skipped and removed, and the worker goes on to the next good
message instead of stopping, which took the whole instance down.

A real Celery worker in embedded mode (SQLite, the filesystem broker) in a
data folder of its own; the good message is sent from another process, as
the web process sends it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import MANAGE, REPO, scrubbed_env

SEND = "from accounts.tasks import purge_expired_credentials; purge_expired_credentials.delay()"


def embedded_env(data_dir: Path) -> dict[str, str]:
    return scrubbed_env(ACCORD_MODE="embedded", ACCORD_DATA_DIR=str(data_dir))


def session_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM django_session").fetchone()[0]


@pytest.mark.timeout(120)
def test_a_worker_skips_empty_and_truncated_message_files(tmp_path):
    data_dir = tmp_path / "data"
    env = embedded_env(data_dir)
    subprocess.run([sys.executable, str(MANAGE), "migrate", "-v", "0"], env=env, check=True)
    db = data_dir / "accord.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "VALUES ('expired', '', '2000-01-01 00:00:00')"
        )
    # Broken files that sort before any message the clock names now.
    messages = data_dir / "broker" / "messages"
    whole = json.dumps({"body": "e30=", "headers": {}, "properties": {}})
    (messages / "0_empty.celery.msg").write_bytes(b"")
    (messages / "1_truncated.celery.msg").write_text(whole[: len(whole) // 2])
    subprocess.run([sys.executable, str(MANAGE), "shell", "-c", SEND], env=env, check=True)
    assert len(list(messages.glob("*.celery.msg"))) == 3

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "accord", "worker", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
         "--hostname", f"broker-test-{time.monotonic_ns()}@localhost"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while session_count(db) and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = worker.poll() is None
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert alive, output[-3000:]
    assert session_count(db) == 0, output[-3000:]  # the good message ran
    assert list(messages.iterdir()) == []  # the broken ones were removed
    assert "skipped and removed 0_empty.celery.msg (0 bytes" in output
    assert "skipped and removed 1_truncated.celery.msg" in output
