"""``accord embedded``: Accord on one machine, with nothing else to install.

It migrates the SQLite database in the data folder, optionally loads the
demo, then runs two child processes with the same environment:

* a real Celery worker with embedded beat, on kombu's filesystem broker, so
  background work takes the same code path as in production (DESIGN.md,
  "Background work": no in-process fallback);
* gunicorn, one process with threads (SQLite has one writer anyway, and the
  login throttle lives in a per-process cache), serving static files through
  whitenoise.

SIGINT and SIGTERM are forwarded to both; when either child dies the other is
stopped and the command exits, so nothing is left running half-alive.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

WEB_THREADS = 8
STOP_GRACE_SECONDS = 20
START_TIMEOUT_SECONDS = 60
# Touched by the worker when it is ready (accord/celery.py).
WORKER_READY_FILE = "worker.ready"
READY_LINE_SECONDS = 0.5
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ANY_ADDRESS = {"0.0.0.0", "::"}  # noqa: S104 - names, compared with --host


class Command(BaseCommand):
    help = (
        "Run Accord on one machine: SQLite in a data folder, a Celery worker with beat "
        "on a filesystem broker, and the web server. Start it as `accord embedded`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on")
        parser.add_argument(
            "--demo", action="store_true", help="create the demo users and project (once)"
        )
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="with --demo: give the demo users new passwords and print them",
        )
        parser.add_argument(
            "--data-dir",
            help="folder for the database, secret and broker (default: ACCORD_DATA_DIR, "
            "or ./data in the source folder)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = self._check_mode(options["data_dir"])
        if options["reset_passwords"] and not options["demo"]:
            raise CommandError("--reset-passwords goes with --demo.")
        host, port = options["host"], options["port"]
        _check_port_free(host, port)

        self._say(f"Data folder: {data_dir}")
        call_command("migrate", interactive=False, verbosity=0)
        # The demo's report (its passwords) waits until the worker's banner
        # and the web process's lines are out, so that it is the last thing
        # on the screen.
        demo = io.StringIO()
        if options["demo"]:
            call_command("demo", reset_passwords=options["reset_passwords"], stdout=demo)

        ready_file = data_dir / WORKER_READY_FILE
        ready_file.unlink(missing_ok=True)
        env = self._child_env(host) | {"ACCORD_WORKER_READY_FILE": str(ready_file)}
        runner = _Children(env, cwd=data_dir)
        runner.start("worker", _worker_command())
        runner.start("web", _web_command(host, port))
        for name, proc in runner.procs.items():
            self._say(f"Started the {name} process (pid {proc.pid}).")
        runner.install_signal_handlers()
        listening = runner.wait_until_listening(_connect_address(host), port, START_TIMEOUT_SECONDS)
        worker_up = _wait_for(ready_file, START_TIMEOUT_SECONDS)
        if worker_up:
            # Celery sends worker_ready just before it logs "ready.": let that
            # line out first.
            time.sleep(READY_LINE_SECONDS)
        if not worker_up:
            self._say("The worker has not said it is ready yet; imports and exports wait for it.")
        if listening:
            self._say(_framed(demo.getvalue(), _url(host, port)))
        code = runner.supervise()
        if runner.stopped_by is None:
            raise CommandError(f"Stopped because a child process exited (exit code {code}).")
        self._say("Accord stopped.")

    def _check_mode(self, data_dir: str | None) -> Path:
        if not getattr(settings, "EMBEDDED", False):
            raise CommandError(
                "The embedded mode is chosen before settings load: start it with "
                "`accord embedded` (or `python manage.py embedded`), not through django-admin "
                "or call_command in server mode."
            )
        if data_dir and Path(data_dir).expanduser().resolve() != settings.DATA_DIR:
            raise CommandError(
                "--data-dir is read by `accord embedded` before settings load; pass it there "
                "or set ACCORD_DATA_DIR."
            )
        return settings.DATA_DIR

    def _child_env(self, host: str) -> dict[str, str]:
        env = dict(os.environ)
        env["ACCORD_MODE"] = "embedded"
        env["ACCORD_DATA_DIR"] = str(settings.DATA_DIR)
        env["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "accord.settings")
        env["PYTHONUNBUFFERED"] = "1"
        if "ALLOWED_HOSTS" not in os.environ:
            hosts = ["127.0.0.1", "localhost", "[::1]"]
            if host not in LOOPBACK | ANY_ADDRESS:
                hosts.append(host)
            env["ALLOWED_HOSTS"] = ",".join(hosts)
            if host in ANY_ADDRESS:
                self._say(
                    "Listening on every interface: set ALLOWED_HOSTS to the names other "
                    "machines use to reach this one."
                )
        return env

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def _wait_for(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.2)
    return False


def _framed(demo: str, url: str) -> str:
    """The last lines on the screen: where Accord runs and, with --demo, the
    users and their passwords (shown once), and how to get new ones."""
    lines = [f"Accord is running at {url} (Ctrl-C to stop)."]
    if demo.strip():
        lines += ["", *demo.strip().splitlines(), ""]
        lines.append(
            "Lost a password? Stop Accord and start it again with --reset-passwords "
            "(scripts/embedded.sh --reset-passwords) for new ones."
        )
    width = max(map(len, lines))
    rule = "=" * width
    return "\n".join(["", rule, *lines, rule, ""])


def _worker_command() -> list[str]:
    # Gossip, mingle and heartbeats broadcast to every queue ever bound; the
    # filesystem broker never forgets a binding, so they would pile up files
    # for workers long gone. One worker needs none of them.
    return [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "accord",
        "worker",
        "--beat",
        "--schedule",
        settings.CELERY_BEAT_SCHEDULE_FILENAME,
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        "--hostname",
        "embedded@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]


def _web_command(host: str, port: int) -> list[str]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "accord.wsgi:application",
        "--bind",
        bind,
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        str(WEB_THREADS),
        "--graceful-timeout",
        "10",
        "--access-logfile",
        "-",
    ]


def _connect_address(host: str) -> str:
    if host == "::":
        return "::1"
    if host == "0.0.0.0":  # noqa: S104
        return "127.0.0.1"
    return host


def _url(host: str, port: int) -> str:
    shown = _connect_address(host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def _check_port_free(host: str, port: int) -> None:
    # Fail before migrating and starting a worker, with a message that names
    # the fix, rather than after gunicorn has logged a traceback.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {host}:{port} ({exc.strerror}); choose another with --port."
            ) from None


def _die_with_parent() -> None:
    # Children run in their own session, so a Ctrl-C in the terminal reaches
    # only this command, which stops them in order. If this command is killed
    # outright, Linux still takes them down with it.
    if sys.platform.startswith("linux"):
        # Linux only: prctl through libc.
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class _Children:
    """The two child processes and the rules for stopping them together."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopped_by: int | None = None
        self._stop_requested_at: float | None = None

    def start(self, name: str, command: list[str]) -> None:
        try:
            self.procs[name] = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                command,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: this process runs no threads
            )
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stopped_by is None:
            self.stopped_by = signum
            self._stop_requested_at = time.monotonic()
            # SIGTERM is the graceful stop for both gunicorn and Celery (a
            # warm shutdown that finishes the running task).
            self.stop(signal.SIGTERM)
        else:
            self.stop(signal.SIGKILL)  # asked twice: do not wait any longer

    def stop(self, signum: int) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_child(proc, signum)

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def wait_until_listening(self, host: str, port: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.stopped_by is None:
            if self.first_exited() is not None:
                return False
            try:
                with socket.create_connection((host, port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def supervise(self) -> int:
        """Wait until a child exits or a signal arrives; stop the rest; return
        the exit code of the child that exited first (0 if stopped by signal)."""
        while self.stopped_by is None and self.first_exited() is None:
            time.sleep(0.2)
        exited = self.first_exited()
        if self.stopped_by is None and exited is not None:
            name, code = exited
            sys.stderr.write(f"The {name} process exited (code {code}); stopping the rest.\n")
            self._stop_requested_at = time.monotonic()
            self.stop(signal.SIGTERM)
        self._reap()
        return 0 if exited is None or self.stopped_by is not None else exited[1]

    def _reap(self) -> None:
        deadline = (self._stop_requested_at or time.monotonic()) + STOP_GRACE_SECONDS
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_child(proc, signal.SIGKILL)
                proc.wait()
        # A child that died abruptly may leave its own children behind (a
        # gunicorn worker whose master was killed): they are still in its
        # process group, which the kernel keeps until the last one exits.
        for proc in self.procs.values():
            _signal_child(proc, signal.SIGKILL)


def _signal_child(proc: subprocess.Popen, signum: int) -> None:
    # A graceful stop goes to the child alone: Celery and gunicorn stop their
    # own pool processes. A kill goes to the child's whole process group
    # (it leads its own session), or Celery's pool and beat processes would
    # outlive it as orphans.
    try:
        if signum == signal.SIGKILL:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    except ProcessLookupError:
        pass
