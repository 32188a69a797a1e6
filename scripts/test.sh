#!/usr/bin/env bash
# Install everything and run the whole test suite against PostgreSQL and Redis.
#   scripts/test.sh [pytest args]      (scripts/test.sh -n 0: one process)
# Expects PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on
# 127.0.0.1:6379, or DATABASE_URL / REDIS_URL pointing elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# Browser tests drive Debian's Chromium (Playwright's own download cannot work offline).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/accord}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
export SECRET_KEY=${SECRET_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(64))')}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1,testserver}
# Tests talk plain HTTP to the test client and to a local live server.
export ACCORD_HTTPS=${ACCORD_HTTPS:-false}
# Uploads and exports; the tests' Celery workers write here too.
export ACCORD_MEDIA_ROOT=${ACCORD_MEDIA_ROOT:-$(mktemp -d)}
unset ACCORD_MODE

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python manage.py makemigrations --check --dry-run
# Apps import only downward, without cycles (the contracts in pyproject.toml).
.venv/bin/lint-imports --no-cache
# Two processes (pytest-xdist), one test file per process at a time, so a
# module's shared fixtures are built once; `scripts/test.sh -n 0` runs serially.
# Each process gets its own test database, Redis database and media folder
# (tests/conftest.py, pytest_xdist_newgateway).
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
