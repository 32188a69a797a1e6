"""Issue 19 moved models between apps (items out of annotation, agreement
reports out of review) with SeparateDatabaseAndState, keeping their tables.
A database made by the migrations before the move, with data in it, must
migrate forward and keep every row where today's models read it: on
PostgreSQL (the server mode) and SQLite (the embedded mode)."""

from __future__ import annotations

import json
import os
import sys

import psycopg
import pytest
from django.conf import settings

from tests.ops.helpers import MANAGE, run, scrubbed_env

SECRET = "migrations-forward-test-key-0123456789abcdefghijklmnopqrstuvwxyz"


def _scenario(env: dict, call: str) -> dict:
    code = f"from tests.ops.migrate_forward_scenario import *; {call}"
    done = run([sys.executable, str(MANAGE), "shell", "-c", code], env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture
def postgresql_env():
    db = settings.DATABASES["default"]
    name = f"accord_migrate_forward_{os.getpid()}"
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    yield scrubbed_env(
        DATABASE_URL=url,
        REDIS_URL=os.environ["REDIS_URL"],
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="testserver",
        ACCORD_HTTPS="false",
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def sqlite_env(tmp_path):
    return scrubbed_env(
        ACCORD_MODE="embedded", ACCORD_DATA_DIR=str(tmp_path / "data"), ALLOWED_HOSTS="testserver"
    )


def _migrated_forward(env: dict) -> dict:
    made = _scenario(env, "before()")
    return _scenario(env, f"after({made['project']}, {made['annotator']})")


EXPECTED = {
    "items": ["gold", "open", "review"],
    "annotations": 4,
    "assignments_of_items": 4,
    "gold_item_text": "text 1",
    "reviews": 1,
    "reports": 1,
    "versions": 1,
    "splits": 1,
    "staged_updates": 1,
    # The moved tasks kept their names: unfinished jobs are sent again as
    # they were.
    "job_tasks": ["annotation.tasks.import_items", "review.tasks.agreement_report"],
    "claim": 200,
    "claimed_item_text": "text 3",
    "submit": 201,
}


@pytest.mark.django_db
def test_a_populated_postgresql_database_migrates_forward(postgresql_env):
    assert _migrated_forward(postgresql_env) == EXPECTED


def test_a_populated_embedded_database_migrates_forward(sqlite_env):
    assert _migrated_forward(sqlite_env) == EXPECTED
