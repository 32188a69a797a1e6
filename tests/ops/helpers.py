"""Running Accord the way an operator does: in a subprocess, with an
environment built from scratch, and talking HTTP to it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "manage.py"

# Everything that configures Accord: removed, so each test states its own.
ACCORD_VARIABLES = (
    "ACCORD_MODE",
    "ACCORD_DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "ACCORD_HTTPS",
    "DJANGO_SETTINGS_MODULE",
    "CSRF_TRUSTED_ORIGINS",
)


def scrubbed_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ACCORD_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def accord_command() -> list[str]:
    """The installed ``accord`` script, or manage.py (the same entry point)."""
    script = Path(sys.executable).with_name("accord")
    return [str(script)] if script.exists() else [sys.executable, str(MANAGE)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> dict:
        return json.loads(self.body)


def http(
    url: str, *, data: object = None, headers: dict | None = None, timeout: float = 5
) -> Response:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return Response(answer.status, answer.read(), dict(answer.headers))
    except urllib.error.HTTPError as answer:
        return Response(answer.code, answer.read(), dict(answer.headers))


def wait_for_status(
    url: str, status: int, timeout: float, alive: Callable[[], bool] = lambda: True
) -> Response | None:
    """Poll ``url`` until it answers ``status``; None on timeout or when
    ``alive()`` turns false (the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            answer = http(url, timeout=2)
            if answer.status == status:
                return answer
        except OSError:
            pass
        time.sleep(0.2)
    return None


@dataclass
class Process:
    """A subprocess whose combined output is collected line by line."""

    popen: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, command: list[str], env: dict[str, str], cwd: Path = REPO) -> Process:
        popen = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        proc = cls(popen)
        threading.Thread(target=proc._read, daemon=True).start()
        return proc

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for_line(self, needle: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if needle in line:
                    return line
            if not self.alive():
                return None
            time.sleep(0.1)
        return None

    def stop(self, timeout: float = 30, signum: int = signal.SIGTERM) -> int:
        if self.alive():
            self.popen.send_signal(signum)
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers to kill(0): it has exited, only nobody reaped it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def pids_with_env(marker: str) -> list[int]:
    """Processes (Linux) whose environment mentions ``marker``, e.g. a data folder."""
    found: list[int] = []
    if not Path("/proc").is_dir():
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes() and pid_exists(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def run(
    command: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


_MIGRATED: list[Path] = []


def embedded_migrated(data_dir: Path, **values: str) -> dict[str, str]:
    """The environment of the embedded mode (SQLite) on a fresh data folder,
    migrated. The first call of the session migrates a template folder (five
    seconds of subprocess); each call gets a copy of it, its own database."""
    if not _MIGRATED:
        template = Path(tempfile.mkdtemp(prefix="accord-embedded-")) / "data"
        env = scrubbed_env(ACCORD_MODE="embedded", ACCORD_DATA_DIR=str(template))
        migrated = run([sys.executable, str(MANAGE), "migrate", "-v", "0"], env, timeout=180)
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        _MIGRATED.append(template)
    shutil.copytree(_MIGRATED[0], data_dir)
    return scrubbed_env(ACCORD_MODE="embedded", ACCORD_DATA_DIR=str(data_dir), **values)
