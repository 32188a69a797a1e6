"""`accord embedded --demo`, end to end, as a person on a fresh machine runs
it: a temporary data folder, a free port, and nothing but HTTP, the data
folder and a second `accord shell` to look at it.

One slow test (about 15 s) rather than several: starting the worker and the
web server is most of the cost.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import sys
import time
from pathlib import Path

import pytest

from .helpers import (
    REPO,
    Process,
    accord_command,
    free_port,
    http,
    pid_exists,
    pids_with_env,
    run,
    scrubbed_env,
    wait_for_status,
)

READY_WITHIN_SECONDS = 60
WORKER_READY_LINE = re.compile(r"embedded@\S+ ready\.$")
PASSWORD_LINE = re.compile(r"^\s+(demo-[a-z0-9-]+)\s+(\S+)\s*$")
STARTED_LINE = re.compile(r"Started the (web|worker) process \(pid (\d+)\)")

# Sent from a separate process, as the web side does: an expired token, then
# the purge task through the filesystem broker. The embedded worker deleting
# the row is the observable effect.
SEND_TASK = """
from accounts.models import User
from accounts.tokens import token_issue
from accounts.tasks import purge_expired_credentials
_, token = token_issue(user=User.objects.get(username="demo-lead"), ttl_seconds=-8 * 24 * 3600)
purge_expired_credentials.delay()
print("TOKEN", token.pk)
"""


@pytest.fixture
def start_embedded(tmp_path):
    """Start `accord embedded <args>` on a free port with its own data folder;
    return (process, data folder, base URL, start time)."""
    started: list[tuple[Process, Path]] = []

    def start(*args: str) -> tuple[Process, Path, str, float]:
        data_dir = tmp_path / f"data{len(started)}"
        port = free_port()
        began = time.monotonic()
        proc = Process.start(
            [
                *accord_command(),
                "embedded",
                *args,
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            scrubbed_env(),
        )
        started.append((proc, data_dir))
        return proc, data_dir, f"http://127.0.0.1:{port}", began

    yield start
    # Leave nothing running, even when a test failed half-way: a graceful
    # stop first, then whatever still runs with that data folder.
    for proc, data_dir in started:
        if proc.alive():
            proc.stop(timeout=40)
        for pid in pids_with_env(str(data_dir)):
            os.kill(pid, signal.SIGKILL)


def _rows(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.mark.timeout(180)
def test_embedded_mode_end_to_end(start_embedded):
    proc, data_dir, base, started = start_embedded("--demo")

    # Ready within a minute of a cold start, migrations and demo included.
    ready = wait_for_status(f"{base}/readyz", 200, READY_WITHIN_SECONDS, alive=proc.alive)
    assert ready is not None, proc.output
    assert time.monotonic() - started < READY_WITHIN_SECONDS
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
    assert http(f"{base}/healthz").status == 200
    assert proc.wait_for_line("Accord is running at http://127.0.0.1:", 10), proc.output

    # The pages render and static files come through whitenoise.
    login = http(f"{base}/accounts/login/")
    assert login.status == 200, proc.output[-3000:]
    assert b"csrfmiddlewaretoken" in login.body
    htmx = next((REPO / "static" / "vendor" / "htmx").glob("htmx-*.min.js"))
    asset = http(f"{base}/static/vendor/htmx/{htmx.name}")
    assert asset.status == 200
    assert asset.body == htmx.read_bytes()

    # The printed demo passwords work, and nothing else is needed to sign in.
    passwords = dict(m.groups() for line in proc.lines if (m := PASSWORD_LINE.match(line)))
    assert set(passwords) == {"demo-lead", "demo-annotator1", "demo-annotator2", "demo-reviewer"}
    # They come last, framed, after the worker's banner and its "ready",
    # with the way to new ones: they do not scroll away.
    lines = list(proc.lines)
    last_password = max(i for i, line in enumerate(lines) if PASSWORD_LINE.match(line))
    worker_ready = next(i for i, line in enumerate(lines) if WORKER_READY_LINE.search(line))
    assert worker_ready < last_password, proc.output
    assert any("--reset-passwords" in line for line in lines[last_password:]), proc.output
    assert lines[last_password + 3].startswith("====="), proc.output
    assert len(set(passwords.values())) == 4
    answer = http(
        f"{base}/api/v1/auth/token/",
        data={"username": "demo-lead", "password": passwords["demo-lead"]},
    )
    assert answer.status == 201, answer.body
    auth = {"Authorization": f"Token {answer.json()['token']}"}
    assert http(f"{base}/api/v1/me/", headers=auth).json()["username"] == "demo-lead"
    projects = http(f"{base}/api/v1/projects/", headers=auth)
    assert projects.status == 200
    assert b"Demo: review sentiment" in projects.body
    wrong = http(f"{base}/api/v1/auth/token/", data={"username": "demo-lead", "password": "demo"})
    assert wrong.status == 400

    # An import from the web process is a job that the embedded worker runs.
    demo_id = next(p["id"] for p in projects.json()["results"] if p["name"].startswith("Demo"))
    queued = http(
        f"{base}/api/v1/projects/{demo_id}/items/",
        data=[{"text": "Arrived broken."}, {"text": "Works, I suppose."}],
        headers=auth,
    )
    assert queued.status == 202, queued.body
    job_url = f"{base}/api/v1/jobs/{queued.json()['job']['id']}/"
    deadline = time.monotonic() + 30
    while (job := http(job_url, headers=auth).json())["status"] in {"queued", "running"}:
        assert time.monotonic() < deadline, proc.output[-3000:]
        time.sleep(0.3)
    assert job["status"] == "succeeded", job
    assert job["result"]["created"] == 2

    # The data folder: a private secret, a private folder, SQLite in WAL mode.
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    db = data_dir / "accord.sqlite3"
    assert _rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert _rows(db, "SELECT COUNT(*) FROM annotation_item") == [(302,)]

    # A task sent from another process runs on the embedded worker, through
    # the filesystem broker; beat is running beside it.
    shell = run(
        [*accord_command(), "shell", "-c", SEND_TASK],
        scrubbed_env(ACCORD_MODE="embedded", ACCORD_DATA_DIR=str(data_dir)),
    )
    assert shell.returncode == 0, shell.stderr
    token_id = int(re.search(r"TOKEN (\d+)", shell.stdout).group(1))
    deadline = time.monotonic() + 30
    while _rows(db, "SELECT COUNT(*) FROM accounts_apitoken WHERE id = ?", token_id) != [(0,)]:
        assert time.monotonic() < deadline, proc.output[-3000:]
        time.sleep(0.3)
    assert proc.wait_for_line("accounts.tasks.purge_expired_credentials", 5)
    assert proc.wait_for_line("beat: Starting", 5)

    # SIGTERM stops the command and both children, and nothing is left over.
    children = {
        m.group(1): int(m.group(2)) for line in proc.lines if (m := STARTED_LINE.search(line))
    }
    assert set(children) == {"web", "worker"}
    assert proc.stop(timeout=40) == 0, proc.output[-3000:]
    assert "Accord stopped." in proc.output
    assert not [pid for pid in children.values() if pid_exists(pid)]
    if sys.platform.startswith("linux"):
        assert pids_with_env(str(data_dir)) == []


@pytest.mark.timeout(120)
def test_when_a_child_dies_the_other_is_stopped_and_the_command_fails(start_embedded):
    proc, data_dir, base, _ = start_embedded()
    assert proc.wait_for_line("Accord is running at", READY_WITHIN_SECONDS), proc.output
    children = {
        m.group(1): int(m.group(2)) for line in proc.lines if (m := STARTED_LINE.search(line))
    }

    os.kill(children["web"], signal.SIGKILL)

    assert proc.popen.wait(timeout=40) != 0
    assert "The web process exited" in proc.output
    assert "Stopped because a child process exited" in proc.output
    assert not pid_exists(children["worker"])
    assert pids_with_env(str(data_dir)) == []
