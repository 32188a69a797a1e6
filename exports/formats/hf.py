"""A Hugging Face ``datasets`` folder: ``load_dataset(<folder>)`` loads it.

The data files are ``data/<split>.parquet``, written like the Parquet format
(typed columns, so labels lists stay lists) but for the item's metadata:
one struct column "meta" (a dict per row in ``datasets``) instead of a
column per field; README.md is the dataset
card: a YAML header whose ``configs`` names each split's data file (the
unsplit "all" is offered as "train", since the library reserves "all"), so
``load_dataset`` ignores anything else beside them (datasheet.json,
manifest.jsonl), and the datasheet rendered as Markdown in the body. Keys
are rendered in sorted order, so the card depends only on the datasheet.
"""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

from tasktypes.base import TaskType

from .base import ExportOptions, Writer
from .parquet import Parquet, ParquetRowWriter

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#~!])")


def md(value: Any) -> str:
    """One value as inline Markdown text: user text (project and user names,
    reasons) cannot open links, HTML or headings."""
    if value is None:
        text = "—"
    elif isinstance(value, bool | int | float):
        text = json.dumps(value)
    else:
        text = str(value)
    text = " ".join(text.split())
    return MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;"))


def title(key: Any) -> str:
    text = str(key).replace("_", " ").strip()
    return md(text[:1].upper() + text[1:])


def render_value(value: Any, indent: str = "") -> list[str]:
    """Nested bullet lists for objects and lists; sorted keys."""
    if isinstance(value, dict):
        items = [(f"**{md(k)}**", value[k]) for k in sorted(value, key=str)]
    elif isinstance(value, list | tuple):
        items = [("", v) for v in value]
    else:
        return [f"{indent}- {md(value)}"]
    lines = []
    for label, item in items:
        head = f"{indent}- {label}:" if label else f"{indent}-"
        if isinstance(item, dict | list | tuple) and item:
            lines.append(head)
            lines.extend(render_value(item, indent + "  "))
        else:
            scalar = md(item) if not isinstance(item, dict | list | tuple) else "—"
            lines.append(f"{head} {scalar}")
    return lines


def render_datasheet(datasheet: dict) -> list[str]:
    scalars = {k: v for k, v in datasheet.items() if not isinstance(v, dict | list | tuple)}
    lines = ["## Datasheet", ""]
    if scalars:
        lines += [*render_value(scalars), ""]
    for key in sorted(datasheet, key=str):
        if key not in scalars:
            lines += [f"### {title(key)}", "", *render_value(datasheet[key]), ""]
    return lines


def card_header(data_files: dict[str, str]) -> list[str]:
    """YAML front matter; names and paths are JSON strings (valid YAML
    scalars), so no split name can break out of it."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, path in data_files.items():
        lines += [f"  - split: {json.dumps(split)}", f"    path: {json.dumps(path)}"]
    return [*lines, "---", ""]


def hf_split(split: str) -> str:
    # "all" is the datasets library's keyword for the union of splits and is
    # refused as a split name: an unsplit export loads as its usual "train".
    return "train" if split == "all" else split


def splits_with_rows(datasheet: dict, splits: list[str]) -> list[str]:
    """The splits the card may name. The library refuses to load a declared
    split without rows ("corresponds to no data"), so when the datasheet
    counts rows per split (counts.splits) the empty ones are left out."""
    counts = datasheet.get("counts")
    per_split = counts.get("splits") if isinstance(counts, dict) else None
    if not isinstance(per_split, dict):
        return splits
    return [split for split in splits if per_split.get(split)] or splits


class HuggingFace(Parquet):
    key = "hf"
    name = "Hugging Face datasets folder"

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return ParquetRowWriter(
            out, task_type=task_type, config=config, options=options, nested_meta=True
        )

    def extra_files(self, *, datasheet: dict, splits: list[str]) -> dict[str, bytes]:
        if "all" in splits and "train" in splits:
            raise ValueError('an export cannot have both the splits "all" and "train"')
        data_files = {
            hf_split(split): f"data/{split}{self.extension}"
            for split in splits_with_rows(datasheet, splits)
        }
        lines = [
            *card_header(data_files),
            "# Dataset card",
            "",
            "Gold records exported by Accord: one Parquet file per split under `data/`, "
            "loadable with `datasets.load_dataset(<this folder>)`.",
            "",
            *render_datasheet(datasheet),
        ]
        return {"README.md": ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")}
