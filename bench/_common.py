"""Shared plumbing for the benchmark scripts: a throwaway database, a child
process per measurement (so peak memory is the measurement's own), and the
results file."""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks.md"

# A script run as `python bench/x.py` has bench/ first on sys.path, where
# bench/queue.py (named for what it measures) shadows the standard library's
# queue for everything imported after this: psycopg, kombu and threading's
# users failed with "module 'queue' has no attribute 'SimpleQueue'". Every
# script imports this module before Django.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


def server_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ACCORD_MODE", None)
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
    env.update(
        DATABASE_URL=f"{base.rstrip('/')}/{database}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        ACCORD_HTTPS="false",
        DJANGO_SETTINGS_MODULE="accord.settings",
    )
    return env


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        env.pop(name, None)
    env.update(
        ACCORD_MODE="embedded",
        ACCORD_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="accord.settings",
    )
    return env


def recreate_database(name: str) -> None:
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{base.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"],
        env=env,
        check=True,
        cwd=ROOT,
    )


def run_child(script: Path, args: list[str], env: dict[str, str]) -> dict:
    """Run ``script --child …`` and return the JSON it prints last."""
    out = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()}"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section ``## title`` of docs/benchmarks.md."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmarks\n\nFigures measured by the scripts in `bench/`.\n"
    )
    header = f"## {title}\n"
    section = header + "\n" + body.strip() + "\n"
    if header in text:
        start = text.index(header)
        nxt = text.find("\n## ", start + len(header))
        text = text[:start] + section + (text[nxt:] if nxt != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)
