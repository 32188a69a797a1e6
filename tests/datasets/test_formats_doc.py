"""docs/formats.md exists (docs/api.md links it), covers every registered
format, and its examples are what an export writes (issue 18, item 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exports import formats, versions
from tests.datasets.exporting import export_now

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "formats.md"


def test_every_doc_the_docs_link_exists() -> None:
    linked = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        linked |= set(re.findall(r"\bdocs/([a-z0-9_-]+\.md)\b", page.read_text()))
    assert "formats.md" in linked
    assert sorted(name for name in linked if not (ROOT / "docs" / name).exists()) == []


def section(name: str) -> str:
    text = DOC.read_text()
    return text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]


def test_every_format_has_its_section() -> None:
    table = DOC.read_text().split("## The record of a gold item", 1)[0]
    for key in formats.FORMATS:
        assert f"| `{key}` |" in table, key
        assert section(key).strip(), key


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.mark.django_db
def test_the_examples_are_what_an_export_writes(project, lead, gold) -> None:
    gold(project, "Great product, would buy again.", "pos", meta={"channel": "forum", "lang": "en"})

    jsonl = export_now(project, lead)
    with versions.open_version_file(jsonl, "all.jsonl") as fh:
        written = json.loads(fh.read())
    example = json.loads(section("jsonl").split("```json\n", 1)[1].split("\n```", 1)[0])
    assert sorted(example) == sorted(written)
    assert example["meta"] == written["meta"] and example["text"] == written["text"]

    csv = export_now(project, lead, format="csv")
    with versions.open_version_file(csv, "all.csv") as fh:
        header = fh.read().decode().splitlines()[0]
    assert section("csv").split("```\n", 1)[1].splitlines()[0] == header

    bullet = DOC.read_text().split("- **`datasheet.json`**:", 1)[1].split("\n- ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", bullet.split("Hashed on its own", 1)[0]))
    inner = {"id", "name", "task_type", "labels", "labels_by_split", "username"}
    assert named - inner == set(jsonl.datasheet), sorted((named - inner) ^ set(jsonl.datasheet))
