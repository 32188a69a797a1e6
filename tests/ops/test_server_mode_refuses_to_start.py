"""Outside the embedded mode Accord takes its configuration from the
environment and refuses to start without it (DESIGN.md, "Background work";
SECURITY.md D1). Each case runs `manage.py check` in a fresh process."""

from __future__ import annotations

import secrets
import sys

import pytest

from .helpers import MANAGE, run, scrubbed_env

STRONG_KEY = secrets.token_urlsafe(60)
COMPLETE = {
    "DATABASE_URL": "postgres://accord@127.0.0.1:5432/accord",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "accord.example.org",
}


def check(**values: str):
    return run([sys.executable, str(MANAGE), "check"], scrubbed_env(**values))


def test_the_complete_configuration_passes_the_check():
    # The baseline the other cases remove one thing from; `check` does not
    # connect to the database or Redis.
    result = check(**COMPLETE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"])
def test_refuses_to_start_without(missing):
    values = {k: v for k, v in COMPLETE.items() if k != missing}
    result = check(**values)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


@pytest.mark.parametrize(
    "weak_key",
    [
        "changeme",
        "x" * 64,  # long but not random
        "django-insecure-" + secrets.token_urlsafe(50),  # Django's placeholder
    ],
    ids=["short", "repetitive", "django-insecure"],
)
def test_refuses_a_weak_secret_key(weak_key):
    result = check(**{**COMPLETE, "SECRET_KEY": weak_key})
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 50 random characters" in result.stderr


def test_an_unknown_mode_is_refused_not_ignored():
    result = check(**COMPLETE, ACCORD_MODE="embeded")
    assert result.returncode != 0
    assert "ACCORD_MODE must be 'server' or 'embedded'" in result.stderr


def test_the_embedded_command_refuses_to_run_in_server_mode():
    # Through django-admin the embedded switch in accord.cli is bypassed: the
    # command must say how to start it rather than run on server settings.
    env = scrubbed_env(**COMPLETE, DJANGO_SETTINGS_MODULE="accord.settings")
    result = run([sys.executable, "-m", "django", "embedded"], env)
    assert result.returncode != 0
    assert "accord embedded" in result.stderr
