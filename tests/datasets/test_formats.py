"""Every format's output parses with its standard reader and holds exactly
the rows given; provenance only on request; read_ids gives the ids back."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from array import array

import orjson
import pyarrow.parquet as pq
import pytest

from exports import formats
from exports.formats import ExportOptions
from exports.formats.base import JSON_ID_BLOCK, IdDigest

from .helpers import (
    CLASSIFICATION,
    MULTI,
    SINGLE,
    UNICODE_TEXT,
    gold,
    json_lines,
    multi_rows,
    single_rows,
    write,
)

FLAT_KEYS = {"item_id", "external_id", "split", "text", "source", "revision"}


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def read_parquet(data: bytes) -> list[dict]:
    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_registry_holds_every_format() -> None:
    assert set(formats.FORMATS) == {"jsonl", "csv", "parquet", "hf", "chat", "preference", "raw"}
    for key, fmt in formats.FORMATS.items():
        assert formats.get(key) is fmt and fmt.key == key
        assert fmt.extension.startswith(".") and fmt.name and fmt.content_type
    assert [k for k, f in formats.FORMATS.items() if f.raw] == ["raw"]
    with pytest.raises(KeyError):
        formats.get("xlsx")


def test_jsonl_holds_exactly_the_rows() -> None:
    rows = single_rows()
    lines = json_lines(write("jsonl", rows))
    assert [line["item_id"] for line in lines] == [1, 2, 3, 7]
    assert all(set(line) == FLAT_KEYS | {"label", "meta"} for line in lines)
    assert lines[0] == {
        "item_id": 1,
        "external_id": "ext-1",
        "split": "train",
        "text": "Great product, would buy again.",
        "label": "pos",
        "source": "consensus",
        "revision": 1,
        "meta": {"lang": "en", "source": "forum"},
    }
    assert lines[1]["external_id"] is None and lines[1]["text"] == UNICODE_TEXT
    assert lines[2]["text"] == rows[2].data["text"]
    assert (lines[3]["source"], lines[3]["revision"]) == ("adjudicated", 3)


def test_jsonl_lines_are_compact_sorted_utf8() -> None:
    data = write("jsonl", single_rows()[1:2])
    assert data.count(b"\n") == 1 and b": " not in data and b", " not in data
    assert UNICODE_TEXT.encode("utf-8") in data  # not \u-escaped: byte-exact
    keys = list(json.loads(data))
    assert keys == sorted(keys)


def test_csv_holds_exactly_the_rows() -> None:
    rows = single_rows()
    data = write("csv", rows)
    assert b"\r\n" not in data.replace(b"\r\nThe end", b"")  # "\n" line endings only
    header = data.split(b"\n", 1)[0].decode()
    assert header == "item_id,external_id,split,label,text,source,revision"
    read = read_csv(data)
    assert [r["item_id"] for r in read] == ["1", "2", "3", "7"]
    assert read[0] == {
        "item_id": "1",
        "external_id": "ext-1",
        "split": "train",
        "label": "pos",
        "text": "Great product, would buy again.",
        "source": "consensus",
        "revision": "1",
    }
    assert read[1]["external_id"] == "" and read[1]["text"] == UNICODE_TEXT
    # Embedded quotes, a comma, LF and CRLF survive the round trip.
    assert read[2]["text"] == 'He said "no",\nthen left.\r\nThe end.'


def test_parquet_holds_exactly_the_rows() -> None:
    rows = single_rows()
    data = write("parquet", rows)
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == [
        "item_id",
        "external_id",
        "split",
        "label",
        "text",
        "source",
        "revision",
    ]
    assert str(table.schema.field("item_id").type) == "int64"
    read = table.to_pylist()
    assert [r["item_id"] for r in read] == [1, 2, 3, 7]
    assert read[1]["external_id"] is None and read[1]["text"] == UNICODE_TEXT
    assert read[2]["text"] == rows[2].data["text"]
    assert read[3] == {
        "item_id": 7,
        "external_id": "ext-7",
        "split": "train",
        "label": "pos",
        "text": "Fine.",
        "source": "adjudicated",
        "revision": 3,
    }
    assert pq.ParquetFile(io.BytesIO(data)).metadata.metadata[b"created_by"].startswith(b"accord")


def test_multi_label_lists_in_every_flat_format() -> None:
    rows = multi_rows()
    expected = [["toxic", "spam"], [], ["off-topic"]]
    assert [line["labels"] for line in json_lines(write("jsonl", rows, MULTI))] == expected
    assert [json.loads(r["labels"]) for r in read_csv(write("csv", rows, MULTI))] == expected
    assert [r["labels"] for r in read_parquet(write("parquet", rows, MULTI))] == expected
    assert [r["labels"] for r in read_parquet(write("hf", rows, MULTI))] == expected
    raw = json_lines(write("raw", rows, MULTI))
    assert [line["gold"]["value"] for line in raw] == expected
    assert [line["annotations"][0]["value"] for line in raw] == expected
    chat = json_lines(write("chat", rows, MULTI))
    assert [line["messages"][-1]["content"] for line in chat] == ["toxic, spam", "", "off-topic"]


def test_provenance_only_on_request() -> None:
    rows = single_rows()
    asked = ExportOptions(provenance=True)
    for line in json_lines(write("jsonl", rows)):
        assert "provenance" not in line
    assert "provenance" not in read_csv(write("csv", rows))[0]
    assert "provenance" not in read_parquet(write("parquet", rows))[0]
    assert "provenance" not in json_lines(write("raw", rows))[0]

    lines = json_lines(write("jsonl", rows, options=asked))
    assert [line["provenance"] for line in lines] == [row.provenance for row in rows]
    read = read_csv(write("csv", rows, options=asked))
    assert list(read[0])[-1] == "provenance"
    assert [json.loads(r["provenance"]) for r in read] == [row.provenance for row in rows]
    table = read_parquet(write("parquet", rows, options=asked))
    assert [json.loads(r["provenance"]) for r in table] == [row.provenance for row in rows]
    raw = json_lines(write("raw", rows, options=asked))
    assert raw[0]["provenance"] == rows[0].provenance


def test_chat_lines_have_only_messages_with_system_prompt_and_template() -> None:
    options = ExportOptions(
        system_prompt="You label reviews.",
        prompt_template="Labels: {labels}\nReview: {text}",
    )
    rows = single_rows()
    lines = json_lines(write("chat", rows, options=options))
    assert len(lines) == len(rows)
    assert all(list(line) == ["messages"] for line in lines)
    assert lines[1]["messages"] == [
        {"role": "system", "content": "You label reviews."},
        {"role": "user", "content": f"Labels: pos, neg\nReview: {UNICODE_TEXT}"},
        {"role": "assistant", "content": "neg"},
    ]
    plain = json_lines(write("chat", rows))
    assert plain[0]["messages"] == [
        {"role": "user", "content": "Great product, would buy again."},
        {"role": "assistant", "content": "pos"},
    ]


def test_raw_carries_every_annotation_and_adjudication() -> None:
    history = (
        {
            "revision": 1,
            "value": "pos",
            "excluded": False,
            "source": "consensus",
            "reviewer": None,
            "reason": "",
            "reason_code": "",
            "decided_at": "2025-01-02T00:00:00+00:00",
        },
        {
            "revision": 2,
            "value": "neg",
            "excluded": False,
            "source": "adjudicated",
            "reviewer": 9,
            "reason": "sarcasm",
            "reason_code": "guideline",
            "decided_at": "2025-01-03T00:00:00+00:00",
        },
    )
    adjudicated = gold(1, "Oh great, another delay.", "neg", history=history, revision=2)
    no_gold = gold(2, "Undecided", None, source="", revision=0)
    lines = json_lines(write("raw", [adjudicated, no_gold]))
    assert list(lines[0]) == sorted(lines[0])
    assert set(lines[0]) == {
        "item_id",
        "external_id",
        "split",
        "data",
        "meta",
        "gold",
        "annotations",
        "adjudications",
    }
    assert lines[0]["data"] == {"text": "Oh great, another delay."}
    assert lines[0]["meta"] == {"source": "forum", "lang": "en"}
    assert lines[0]["gold"] == {
        "value": "neg",
        "excluded": False,
        "source": "consensus",
        "revision": 2,
    }
    assert lines[0]["annotations"] == adjudicated.provenance["annotations"]
    assert lines[0]["adjudications"] == list(history)
    assert lines[1]["gold"] is None and lines[1]["adjudications"] == []
    assert [a["id"] for a in lines[1]["annotations"]] == [21, 22]


@pytest.mark.parametrize("key", ["jsonl", "csv", "parquet", "hf", "raw"])
def test_read_ids_gives_the_ids_in_order(key: str) -> None:
    rows = single_rows()[::-1]  # the writer keeps the order it is given
    fp = io.BytesIO(write(key, rows))
    ids = formats.get(key).read_ids(fp)
    assert ids is not None
    assert list(ids) == [7, 3, 2, 1]
    assert not fp.closed


@pytest.mark.parametrize("key", ["jsonl", "csv", "parquet", "hf", "raw"])
def test_read_ids_of_an_empty_file(key: str) -> None:
    data = write(key, [])
    assert list(formats.get(key).read_ids(io.BytesIO(data))) == []


def expected_digest(ids: list[int]) -> tuple[int, str]:
    return len(ids), hashlib.sha256(array("q", ids).tobytes()).hexdigest()


@pytest.mark.parametrize("key", ["jsonl", "csv", "parquet", "hf", "raw"])
def test_ids_digest_hashes_the_ids_in_order(key: str) -> None:
    rows = single_rows()[::-1]
    fp = io.BytesIO(write(key, rows))
    assert formats.get(key).ids_digest(fp) == expected_digest([7, 3, 2, 1])
    assert not fp.closed
    swapped = io.BytesIO(write(key, [rows[1], rows[0], *rows[2:]]))
    assert formats.get(key).ids_digest(swapped) != expected_digest([7, 3, 2, 1])


@pytest.mark.parametrize("key", ["jsonl", "csv", "parquet", "hf", "raw"])
def test_ids_digest_of_an_empty_file(key: str) -> None:
    assert formats.get(key).ids_digest(io.BytesIO(write(key, []))) == expected_digest([])


@pytest.mark.parametrize("key", ["jsonl", "raw"])
def test_ids_digest_reads_a_line_longer_than_arrows_block(key: str) -> None:
    # Arrow's reader gives up on a line longer than its block; the line by
    # line reader then answers, from the start of the file.
    rows = single_rows()
    rows[1].data["text"] = "x" * (JSON_ID_BLOCK + 10)
    data = write(key, rows)
    assert max(len(line) for line in data.splitlines()) > JSON_ID_BLOCK
    fp = io.BytesIO(b"preamble" + data)
    fp.seek(len(b"preamble"))
    assert formats.get(key).ids_digest(fp) == expected_digest([r.item_id for r in rows])


def test_ids_digest_refuses_a_line_without_item_id() -> None:
    data = write("jsonl", single_rows()) + b'{"text": "no id"}\n'
    with pytest.raises(KeyError):
        formats.get("jsonl").ids_digest(io.BytesIO(data))


def test_id_digest_in_batches_equals_one_pass() -> None:
    ids = list(range(10_000, 0, -3))
    digest = IdDigest()
    for start in range(0, len(ids), 999):
        digest.update(array("q", ids[start : start + 999]))
    assert digest.result() == IdDigest.of(ids) == expected_digest(ids)


@pytest.mark.parametrize("key", ["chat", "preference"])
def test_read_ids_none_without_ids(key: str) -> None:
    assert formats.get(key).read_ids(io.BytesIO(b"")) is None


def test_empty_exports_still_parse() -> None:
    assert write("jsonl", []) == b""
    assert read_csv(write("csv", [])) == []
    assert write("csv", []) == b"item_id,external_id,split,label,text,source,revision\n"
    assert pq.read_table(io.BytesIO(write("parquet", []))).num_rows == 0


def test_export_fields_clashing_with_own_columns_fail() -> None:
    class Clash:
        item_fields = ("text",)

        def export_record(self, item_data: dict, value: object, config: dict) -> dict:
            return {"text": item_data["text"], "split": value}

    with pytest.raises(ValueError, match="clash"):
        write("jsonl", single_rows(), task_type=Clash())


def test_jsonl_values_stay_raw() -> None:
    """SECURITY.md B10: only CSV escapes formula triggers; JSON round-trips."""
    row = gold(1, '=HYPERLINK("http://x")', "pos", external_id="@x")
    assert json_lines(write("jsonl", [row]))[0]["text"] == '=HYPERLINK("http://x")'
    assert orjson.loads(write("raw", [row]))["external_id"] == "@x"


def test_supports() -> None:
    assert formats.get("chat").supports(CLASSIFICATION)
    assert not formats.get("preference").supports(CLASSIFICATION)
    assert all(
        formats.get(key).supports(CLASSIFICATION)
        for key in ("jsonl", "csv", "parquet", "hf", "raw")
    )


class WriteOnly:
    """What the exporter may hand a writer: a hashing wrapper with only write()."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(bytes(data))


@pytest.mark.parametrize("key", sorted(formats.FORMATS))
def test_writers_need_only_write(key: str) -> None:
    rows = single_rows() if key != "preference" else []
    out = WriteOnly()
    writer = formats.get(key).writer(
        out, task_type=CLASSIFICATION, config=SINGLE, options=ExportOptions()
    )
    for row in rows:
        writer.write(row)
    writer.close()
    assert b"".join(out.chunks) == write(key, rows)


@pytest.mark.parametrize("key", ["chat", "preference"])
def test_training_formats_refuse_excluded_items(key: str) -> None:
    excluded = gold(1, "spam spam", None, excluded=True)
    with pytest.raises(ValueError, match="excluded"):
        write(key, [excluded])


def test_flat_formats_keep_excluded_items_with_a_null_value() -> None:
    excluded = gold(1, "spam spam", None, excluded=True)
    assert json_lines(write("jsonl", [excluded]))[0]["label"] is None
    assert read_csv(write("csv", [excluded]))[0]["label"] == ""
    assert read_parquet(write("parquet", [excluded]))[0]["label"] is None
    assert json_lines(write("raw", [excluded]))[0]["gold"]["excluded"] is True
