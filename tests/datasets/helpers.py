"""Hand-built gold rows and small helpers to run a format over them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from exports import formats
from exports.formats import ExportOptions, GoldRow
from tasktypes.classification import Classification

CLASSIFICATION = Classification()
SINGLE = {
    "multi_label": False,
    "labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}],
}
MULTI = {
    "multi_label": True,
    "labels": [
        {"key": "toxic", "name": "Toxic"},
        {"key": "spam", "name": "Spam"},
        {"key": "off-topic", "name": "Off topic"},
    ],
}
# Byte-exact text: accents, CJK, emoji with a joiner, Arabic and Hebrew (right
# to left) with the marks that steer direction.
UNICODE_TEXT = "Café 東京 👩‍💻 \u202bمرحبا بالعالم\u202c שלום \u200f!"


def provenance(item_id: int, value: Any) -> dict:
    return {
        "gold_id": 1000 + item_id,
        "source": "consensus",
        "revision": 1,
        "decided_at": "2025-01-02T03:04:05+00:00",
        "reviewer": None,
        "reason": "",
        "reason_code": "",
        "config_version": 1,
        "guideline_version": 2,
        "min_guideline_version": 2,
        "annotations": [
            {
                "id": 10 * item_id + n,
                "annotator": n,
                "value": value,
                "guideline_version": 2,
                "config_version": 1,
                "submitted_at": "2025-01-01T00:00:00+00:00",
            }
            for n in (1, 2)
        ],
    }


def gold(item_id: int, text: str, value: Any, **changes: Any) -> GoldRow:
    fields: dict[str, Any] = {
        "item_id": item_id,
        "external_id": f"ext-{item_id}",
        "split": "train",
        "data": {"text": text},
        "meta": {"source": "forum", "lang": "en"},
        "value": value,
        "excluded": False,
        "source": "consensus",
        "revision": 1,
        "provenance": provenance(item_id, value),
    }
    fields.update(changes)
    return GoldRow(**fields)


def single_rows() -> list[GoldRow]:
    return [
        gold(1, "Great product, would buy again.", "pos"),
        gold(2, UNICODE_TEXT, "neg", external_id=None),
        gold(3, 'He said "no",\nthen left.\r\nThe end.', "neg", split="train"),
        gold(7, "Fine.", "pos", source="adjudicated", revision=3),
    ]


def multi_rows() -> list[GoldRow]:
    return [
        gold(4, "Buy cheap pills!!!", ["toxic", "spam"]),
        gold(5, "Nothing to see.", []),
        gold(6, UNICODE_TEXT, ["off-topic"]),
    ]


def write(
    key: str,
    rows: list[GoldRow],
    config: dict = SINGLE,
    options: ExportOptions | None = None,
    task_type: Any = CLASSIFICATION,
) -> bytes:
    out = io.BytesIO()
    writer = formats.get(key).writer(
        out, task_type=task_type, config=config, options=options or ExportOptions()
    )
    for row in rows:
        writer.write(row)
    writer.close()
    assert not out.closed, "a writer must leave its output open"
    return out.getvalue()


def json_lines(data: bytes) -> list[dict]:
    assert data.endswith(b"\n") or not data
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]


def hf_load(folder: Path, tmp_path: Path, code: str) -> Any:
    """Run ``code`` (which ends by printing JSON) with Hugging Face datasets in
    an isolated interpreter, offline: our app package ``datasets`` shadows the
    library inside the project, and nothing may be fetched."""
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }
    env.pop("PYTHONPATH", None)
    script = f"import datasets, json\nfolder = {str(folder)!r}\n{code}"
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
