"""The shape of the code (docs/architecture.md): apps import only downward
and without cycles (import-linter, the contracts in pyproject.toml), an
import inside a function says why, and a module over 500 lines says why it
is one module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPS = (
    "accord",
    "tasktypes",
    "accounts",
    "projects",
    "items",
    "annotation",
    "review",
    "agreement",
    "exports",
)
LONG = 500


def _modules():
    for app in APPS:
        for path in sorted((REPO / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _nested_imports(tree: ast.AST):
    """Imports inside a function or class body (not under TYPE_CHECKING)."""
    for scope in ast.walk(tree):
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for node in ast.walk(scope):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    yield node


def _explained(lines: list[str], node: ast.stmt) -> bool:
    """A comment on the import's line, or on the lines right above it
    (through other imports of the same block)."""
    if "#" in lines[node.lineno - 1]:
        return True
    row = node.lineno - 2
    while row >= 0:
        text = lines[row].strip()
        if text.startswith("#"):
            return True
        if not (
            text.startswith(("from ", "import "))
            or text == ""
            or text.endswith(",")
            or text in (")",)
            or text.startswith(("    ",))
        ):
            return False
        if text == "":
            row -= 1
            continue
        if not text.startswith(("from ", "import ")):
            return False
        row -= 1
    return False


def test_every_import_inside_a_function_says_why():
    unexplained = []
    for path in _modules():
        text = path.read_text()
        lines = text.splitlines()
        for node in _nested_imports(ast.parse(text)):
            if not _explained(lines, node):
                unexplained.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert unexplained == [], "imports inside functions without a comment saying why"


def _our_files():
    """Every file of ours a reader opens: the apps, tests and benches, our
    scripts, styles and templates (vendored files are not ours)."""
    yield from _modules()
    for folder, pattern in (
        ("tests", "*.py"),
        ("bench", "*.py"),
        ("templates", "*.html"),
        ("static", "*.js"),
        ("static", "*.css"),
    ):
        for path in sorted((REPO / folder).rglob(pattern)):
            if "vendor" not in path.parts:
                yield path


def test_a_file_over_500_lines_says_why_at_its_top():
    unexplained = []
    for path in _our_files():
        lines = path.read_text().splitlines()
        if len(lines) > LONG and not any(f"{LONG} lines" in line for line in lines[:40]):
            unexplained.append(f"{path.relative_to(REPO)} ({len(lines)} lines)")
    assert unexplained == []


@pytest.mark.timeout(120)
def test_apps_import_only_downward_and_without_cycles():
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stdout[-4000:]


def test_a_process_that_never_exports_does_not_load_the_formats_libraries():
    """django.setup() registers every app's job kinds; the export's modules
    (pyarrow, about 40 MB) load only when an export runs."""
    code = "import sys, django; django.setup(); print('pyarrow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "accord.settings"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
