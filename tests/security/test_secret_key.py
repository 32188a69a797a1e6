"""SECRET_KEY: Accord refuses to start with a missing, short, low-entropy or
django-insecure key (SECURITY.md D1)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from accord.settings import check_secret_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "short",
        "x" * 49,
        "a" * 80,  # long but one character
        "abab" * 20,
        "django-insecure-" + secrets.token_urlsafe(50),
    ],
    # Fixed ids: parallel workers (pytest-xdist) must collect the same names,
    # and the random key differs in each process.
    ids=["empty", "short", "49-characters", "one-character", "two-characters", "django-insecure"],
)
def test_weak_keys_are_refused(key):
    with pytest.raises(ImproperlyConfigured):
        check_secret_key(key)


def test_a_long_random_key_is_accepted():
    key = secrets.token_urlsafe(60)
    assert check_secret_key(key) == key


def _start(secret_key: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ACCORD_MODE"}}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("key", [None, "django-insecure-" + "k" * 50, "tooshort"])
def test_server_refuses_to_start_with_a_bad_key(key):
    result = _start(key)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
