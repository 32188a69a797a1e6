"""Shared fixtures: a project with the trio every endpoint is tested against
(lead, annotator, outsider), plus a reviewer, all made through the services."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth import get_user_model
from django.db.backends.postgresql.operations import DatabaseOperations as PostgreSQLOperations
from rest_framework.test import APIClient

from accounts.tokens import token_issue
from projects import services

User = get_user_model()
PASSWORD = "correct horse battery staple 42"  # noqa: S105 - test password

CLASSIFICATION_CONFIG = {
    "multi_label": False,
    "labels": [
        {"key": "pos", "name": "Positive", "hotkey": "p", "color": "#2e7d32"},
        {"key": "neg", "name": "Negative", "hotkey": "n", "color": "#c62828"},
        {"key": "neu", "name": "Neutral", "hotkey": "u"},
    ],
}

_seq = itertools.count(1)


# Parallel runs (pytest-xdist). Each worker has its own test database from
# pytest-django, but Redis and the media folder come from the environment:
# two workers on one broker database would run each other's Celery tasks
# (on the wrong test database) and clear each other's throttle counters.
# Worker gwN gets Redis database (REDIS_URL's, 15 by default) - 2N, so with
# two workers 15 and 13; 14 is left to local development.
REDIS_DATABASES_APART = 2


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_newgateway(gateway):
    """Give an xdist worker its own Redis database and media folder. Runs in
    the controller before the worker starts pytest, so the worker's Django
    settings (which read the environment on import) and the Celery workers it
    starts see them."""
    worker = int(gateway.id.removeprefix("gw"))
    env = worker_environment(worker)
    channel = gateway.remote_exec("import os; os.environ.update(channel.receive())")
    channel.send(env)
    channel.waitclose()


def worker_environment(worker: int) -> dict[str, str]:
    env = {
        name: redis_url_for_worker(os.environ[name], worker)
        for name in ("REDIS_URL", "REDIS_CACHE_URL")
        if os.environ.get(name)
    }
    env["ACCORD_MEDIA_ROOT"] = media_root_for_worker(worker)
    return env


def redis_url_for_worker(url: str, worker: int) -> str:
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) - REDIS_DATABASES_APART * worker
    if database < 0:
        raise pytest.UsageError(f"no Redis database left for xdist worker gw{worker} of {url}")
    return urlunsplit(parts._replace(path=f"/{database}"))


def media_root_for_worker(worker: int) -> str:
    base = os.environ.get("ACCORD_MEDIA_ROOT")
    if not base:
        return tempfile.mkdtemp(prefix=f"accord-media-gw{worker}-")
    folder = Path(base) / f"gw{worker}"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


# A table with at least this many rows is emptied by TRUNCATE, the rest by DELETE.
FLUSH_TRUNCATE_ROWS = 2000


def _delete_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """Empty the tables between transactional tests with DELETE, and
    TRUNCATE only the few that a test filled.

    Django flushes PostgreSQL with one TRUNCATE of every table, which gives
    each table and index a new file: 0.36 s for our 35 nearly empty tables,
    after each of the suite's hundreds of transactional tests, where DELETE
    takes 0.01 s. A table of a bulk test (100,000 rows) is still faster to
    truncate. Django runs the statements in one transaction, and its foreign
    keys are checked at commit (DEFERRABLE INITIALLY DEFERRED), so the order
    does not matter. Sequences are not reset either way."""
    if reset_sequences or allow_cascade or not tables:
        return _truncate_flush(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    quoted = [self.quote_name(t) for t in tables]
    probe = " UNION ALL ".join(
        f"SELECT {n} FROM (SELECT 1 FROM {q} LIMIT {FLUSH_TRUNCATE_ROWS}) x "  # noqa: S608
        f"HAVING count(*) >= {FLUSH_TRUNCATE_ROWS}"
        for n, q in enumerate(quoted)
    )
    with self.connection.cursor() as cursor:
        cursor.execute(probe)
        big = {row[0] for row in cursor.fetchall()}
    statements = [f"DELETE FROM {q};" for n, q in enumerate(quoted) if n not in big]  # noqa: S608
    if big:
        # CASCADE: a table that references a truncated one is emptied too.
        statements.insert(0, f"TRUNCATE {', '.join(quoted[n] for n in sorted(big))} CASCADE;")
    return statements


_truncate_flush = PostgreSQLOperations.sql_flush
PostgreSQLOperations.sql_flush = _delete_flush


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **extra) -> User:
        name = username or f"user{next(_seq)}"
        return User.objects.create_user(
            username=name, password=PASSWORD, email=f"{name}@example.org", **extra
        )

    return make


@pytest.fixture
def lead(make_user):
    return make_user("lead")


@pytest.fixture
def annotator(make_user):
    return make_user("annotator")


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer")


@pytest.fixture
def outsider(make_user):
    return make_user("outsider")


@pytest.fixture
def make_project(db):
    def make(lead, name: str = "Sentiment", config: dict | None = None, **settings) -> object:
        return services.project_create(
            user=lead,
            name=name,
            task_type="classification",
            config=config or CLASSIFICATION_CONFIG,
            **settings,
        )

    return make


@pytest.fixture
def project(make_project, lead, annotator, reviewer, outsider):
    project = make_project(lead)
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    return project


@pytest.fixture
def api_for():
    """An API client authenticated with a real token for ``user`` (or anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            key, _ = token_issue(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def web_for(client):
    """A Django test client logged in as ``user`` (a fresh client per call)."""
    from django.test import Client

    def make(user=None) -> Client:
        c = Client()
        if user is not None:
            c.force_login(user)
        return c

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users made by tests hash passwords with a fast hasher; the real one
    costs half a second a user. (Password checks are still real checks.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache: start every test clean. Only
    Accord's own keys go — the broker may share this Redis database, and
    wiping its bindings would lose the worker's messages."""
    from django.core.cache import cache

    def clear():
        if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):
            client = cache._cache.get_client(write=True)
            keys = list(client.scan_iter(match="accord:*", count=1000))
            if keys:
                client.delete(*keys)
        else:
            cache.clear()

    clear()
    yield
    clear()


def start_worker(name: str, queue: str | None = None, **extra_env: str):
    """Start a real Celery worker process on the test database and the test
    Redis; return it once it answers a ping."""
    import os
    import subprocess
    import sys
    import time

    from django.db import connection

    from accord.celery import app

    settings_dict = connection.settings_dict
    env = dict(os.environ, **extra_env)
    env["DATABASE_URL"] = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    node = f"{name}-{os.getpid()}@localhost"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "accord", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", node,
         *(["-Q", queue] if queue else [])],
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(destination=[node], timeout=0.5):
            return process
        if process.poll() is not None:
            raise RuntimeError("the Celery worker exited at start")
    process.kill()
    raise RuntimeError("the Celery worker did not answer within 60 s")


def stop_worker(process) -> None:
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker for the tests whose behaviour depends on one
    (they use ``django_db(transaction=True)`` so it sees their rows).
    Session-scoped: started once."""
    from accord.celery import app

    app.control.purge()
    process = start_worker("test")
    yield process
    stop_worker(process)


@pytest.fixture
def wait_for_job():
    """Poll a job row until it is finished (or fail after ``timeout`` s)."""
    import time

    from projects.models import Job

    def wait(job_id: int, timeout: float = 60) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = Job.objects.get(pk=job_id)
            if job.is_finished:
                return job
            time.sleep(0.1)
        raise AssertionError(
            f"job {job_id} did not finish in {timeout} s: {Job.objects.get(pk=job_id).status}"
        )

    return wait


@pytest.fixture
def annotate(db):
    """An item with one submitted annotation per (annotator, value), made
    through the queue's own services: each annotator takes a slot of that
    very item (not whatever the queue would hand them next) and submits.
    An item with more pairs than the project's overlap gets that many slots."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.queue.claim import take
    from annotation.queue.submit import annotation_submit
    from items.models import Item
    from items.services import ItemRow, items_create
    from projects.services import project_config

    def make(project, *pairs, text: str = "some text") -> Item:
        items_create(
            project=project, rows=[ItemRow({"text": text})], config=project_config(project).config
        )
        item = Item.objects.get(project=project, data__text=text)
        if len(pairs) > item.overlap:
            Item.objects.filter(pk=item.pk).update(overlap=len(pairs), free_slots=len(pairs))
        for user, value in pairs:
            with transaction.atomic():
                assignment = take(project, user, item.pk, timezone.now())
            annotation_submit(assignment=assignment, user=user, value=value)
        item.refresh_from_db()
        return item

    return make


def wait_until(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something true (returned), or fail
    after ``timeout`` seconds naming what was awaited."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_redis(folder: Path, port: int | None = None):
    """Start a private redis-server on ``port`` or a free one (no
    persistence), for the tests that stop Redis: the shared one serves
    everybody's tests. Returns (process, port); ``stop_redis`` ends it."""
    import socket
    import subprocess
    import time

    import redis

    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the private redis-server did not start")


def stop_redis(process) -> None:
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def use_broker(url: str) -> str:
    """Point this process's Celery app at ``url``; returns the previous URL.
    The app keeps its connection and producer pools: drop them, as Celery
    does after a fork."""
    from accord.celery import app

    previous = app.conf.broker_write_url or app.conf.broker_url
    # Celery copies the URL into the read and write URLs when it configures.
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = url
    app._pool = None
    app.amqp._producer_pool = None
    return previous


def start_beat(folder: Path, **extra_env: str):
    """Start a real Celery beat process (its schedule file in ``folder``)."""
    import os
    import subprocess
    import sys

    from django.db import connection

    settings_dict = connection.settings_dict
    env = dict(os.environ, **extra_env)
    env["DATABASE_URL"] = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "accord", "beat", "--loglevel", "WARNING",
         "--schedule", str(folder / "beat-schedule"), "--pidfile", ""],
        env=env,
    )  # fmt: skip


@pytest.fixture
def private_broker(tmp_path):
    """A private Redis as this process's Celery broker, for tests whose
    messages no other worker may take; yields its URL, for the processes the
    test starts."""
    process, port = start_redis(tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    previous = use_broker(url)
    yield url
    use_broker(previous)
    stop_redis(process)
