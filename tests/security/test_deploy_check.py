"""`manage.py check --deploy --fail-level WARNING` is clean with production
settings: HTTPS on (ACCORD_HTTPS unset), DEBUG off (SECURITY.md D8)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ACCORD_") and k not in {"DEBUG", "SECRET_KEY"}
    }
    env.update(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://accord@127.0.0.1:5432/accord"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="accord.example.org",
    )
    env.update(extra)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_debug_on():
    # The check can fail: DEBUG on is caught (security.W018).
    result = check_deploy(production_env(DEBUG="true"))
    assert result.returncode != 0
    assert "W018" in result.stdout + result.stderr


def test_check_deploy_fails_without_https():
    result = check_deploy(production_env(ACCORD_HTTPS="false"))
    assert result.returncode != 0
    assert "W012" in result.stdout + result.stderr  # session cookie not Secure


def test_server_refuses_to_start_without_allowed_hosts():
    result = check_deploy(production_env(ALLOWED_HOSTS=""))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/no-such-page/", "/api/v1/no-such-thing/", "/projects/abc/"])
def test_not_found_pages_leak_nothing(client, path):
    # D8: no technical 404 page (it lists the URL conf) and no settings.
    response = client.get(path)
    assert response.status_code == 404
    body = response.content.decode()
    for leak in ("Traceback", "URLconf", "urlpatterns", "SECRET_KEY", "DATABASE", "DEBUG"):
        assert leak not in body, leak
