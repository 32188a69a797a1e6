"""The hf folder loads with Hugging Face ``datasets.load_dataset(<folder>)``,
offline, in an isolated interpreter (our app package ``datasets`` shadows
the library inside the project)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from exports import formats
from exports.formats import ExportOptions, GoldRow

from .helpers import MULTI, SINGLE, UNICODE_TEXT, gold, hf_load, multi_rows, single_rows, write

DATASHEET = {
    "project": "Sentiment <script>alert(1)</script> [x](http://evil.example)",
    "counts": {"train": 3, "validation": 1, "test": 2},
    "labels": {"train": {"pos": 2, "neg": 1}},
    "agreement": {"alpha": 0.81, "coefficient": "alpha"},
    "annotators": [3, 5],
    "seed": 42,
}

SUMMARY = """
dd = datasets.load_dataset(folder)
print(json.dumps({
    name: {"rows": ds.num_rows, "first": ds[0] if ds.num_rows else None,
           "features": {k: str(v) for k, v in ds.features.items()}}
    for name, ds in dd.items()
}))
"""


def write_folder(folder: Path, by_split: dict[str, list[GoldRow]], config: dict) -> Path:
    fmt = formats.get("hf")
    for split, rows in by_split.items():
        path = folder / f"data/{split}{fmt.extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [dataclasses.replace(r, split=split) for r in rows]
        path.write_bytes(write("hf", rows, config, ExportOptions(provenance=True)))
    # The library cannot load a declared split without rows ("corresponds to
    # no data"): the card leaves out the splits the datasheet counts empty.
    counts = {split: len(rows) for split, rows in by_split.items() if rows}
    datasheet = {**DATASHEET, "counts": {"splits": counts}}
    extra = fmt.extra_files(datasheet=datasheet, splits=sorted(by_split))
    for name, data in extra.items():
        (folder / name).write_bytes(data)
    # What the exporter stores beside the data must not become a split.
    (folder / "datasheet.json").write_text("{}")
    (folder / "manifest.jsonl").write_text('{"item": 1}\n')
    return folder


def test_folder_loads_with_its_splits(tmp_path: Path) -> None:
    rows = single_rows()
    folder = write_folder(
        tmp_path / "export",
        {"train": rows[:3], "validation": [], "test": rows[3:]},
        SINGLE,
    )
    loaded = hf_load(folder, tmp_path, SUMMARY)
    assert {name: s["rows"] for name, s in loaded.items()} == {"train": 3, "test": 1}
    first = loaded["train"]["first"]
    assert first["item_id"] == 1 and first["label"] == "pos" and first["split"] == "train"
    assert json.loads(first["provenance"])["gold_id"] == 1001
    assert loaded["test"]["first"]["item_id"] == 7
    assert loaded["train"]["features"]["item_id"] == "Value('int64')"


def test_multi_label_and_unicode_load(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "export", {"all": multi_rows()}, MULTI)
    code = """
dd = datasets.load_dataset(folder)
print(json.dumps({name: ds.to_list() for name, ds in dd.items()}))
"""
    loaded = hf_load(folder, tmp_path, code)
    # The unsplit export ("all", a keyword of the library) loads as train.
    assert list(loaded) == ["train"]
    assert [r["labels"] for r in loaded["train"]] == [["toxic", "spam"], [], ["off-topic"]]
    assert loaded["train"][2]["text"] == UNICODE_TEXT


def test_dataset_card() -> None:
    card = formats.get("hf").extra_files(datasheet=DATASHEET, splits=["train", "test"])
    assert list(card) == ["README.md"]
    text = card["README.md"].decode("utf-8")
    header, body = text.split("\n---\n", 1)
    assert header.splitlines() == [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        '  - split: "train"',
        '    path: "data/train.parquet"',
        '  - split: "test"',
        '    path: "data/test.parquet"',
    ]
    assert "## Datasheet" in body and "- **seed**: 42" in body
    assert "### Counts" in body and "- **validation**: 1" in body
    # User text cannot open HTML or links in the rendered card.
    assert "<script>" not in body and "[x](http" not in body
    assert "\\<script\\>" in body and "\\[x\\](http" in body
    assert formats.get("hf").extra_files(datasheet=DATASHEET, splits=["train", "test"]) == card
    assert formats.get("jsonl").extra_files(datasheet=DATASHEET, splits=["train"]) == {}


def test_card_leaves_out_splits_counted_empty() -> None:
    hf = formats.get("hf")
    counted = {"counts": {"splits": {"train": 5, "test": 0}}}
    assert (
        b'"data/test.parquet"'
        not in hf.extra_files(datasheet=counted, splits=["test", "train"])["README.md"]
    )
    for datasheet in ({}, {"counts": {"splits": {}}}):
        card = hf.extra_files(datasheet=datasheet, splits=["test", "train"])["README.md"]
        assert b'"data/test.parquet"' in card and b'"data/train.parquet"' in card


def test_card_refuses_all_beside_train() -> None:
    with pytest.raises(ValueError):
        formats.get("hf").extra_files(datasheet={}, splits=["all", "train"])


def test_hf_data_files_are_the_parquet_format() -> None:
    rows = [gold(1, "x", "pos")]
    assert write("hf", rows) == write("parquet", rows)
