"""Every format carries the item's ``meta`` (issue 18, item 6): a nested
object in JSONL, raw and hf, a column per field in CSV and Parquet (named
"meta.<field>", typed from all the export's values), unless the request
leaves it out; the option is part of the version's identity, and the files
stay canonical. Through the export job, the files read back (hf with the
``datasets`` library)."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from exports import bundle, job, versions
from exports.models import DatasetVersion
from items.models import Item
from projects.jobs import job_create, run_job
from review.models import GoldRecord
from tests.datasets.exporting import export_now

from .helpers import hf_load

pytestmark = pytest.mark.django_db

# Per item: its meta. Fields of one type, of mixed number types, nested, a
# boolean, a field missing in some items, names that are export columns too
# ("label", "text", "split") and a value a spreadsheet would run.
METAS = [
    {"lang": "en", "n": 1, "score": 0.5, "flag": True, "tags": ["a", "b"],
     "label": "from-source", "text": "=HYPERLINK(\"x\")", "nested": {"b": 1, "a": [2]}},
    {"lang": "de", "n": 2, "score": 2, "flag": False, "tags": [], "split": "theirs"},
    {"n": None, "score": 1.25, "mixed": "x"},
    {"lang": "fr", "mixed": 3, "z": {"k": "v"}},
]  # fmt: skip
KEYS = sorted({key for meta in METAS for key in meta})


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def items(project) -> list[int]:
    texts = [f"record {n}" for n in range(len(METAS))]
    made = Item.objects.bulk_create(
        [
            Item(
                project=project, data={"text": text}, meta=meta,
                content_hash=hashlib.sha256(text.encode()).hexdigest(), state="gold",
            )
            for text, meta in zip(texts, METAS, strict=True)
        ]
    )  # fmt: skip
    GoldRecord.objects.bulk_create(
        [
            GoldRecord(
                project=project, item=item, value=label, source="consensus",
                config_version=1, decided_at=timezone.now(),
            )
            for item, label in zip(made, ["pos", "neg", "pos", "neu"], strict=True)
        ]
    )  # fmt: skip
    return [item.pk for item in made]


def data_file(version, split: str = "all") -> bytes:
    assert version.status == "succeeded", version.job.error
    with versions.open_version_file(version, version.file(split=split)["name"]) as fh:
        return fh.read()


def test_jsonl_and_raw_carry_meta_as_an_object(project, lead, items):
    version = export_now(project, lead)
    rows = [json.loads(line) for line in data_file(version).splitlines()]
    assert [row["meta"] for row in rows] == METAS
    # The task type's own columns are untouched by meta fields of the same name.
    assert rows[0]["label"] == "pos" and rows[0]["text"] == "record 0"
    # Keys sorted at every depth: the bytes depend on the values only.
    assert b'"nested":{"a":[2],"b":1}' in data_file(version)

    without = export_now(project, lead, options={"include_meta": False})
    assert all("meta" not in json.loads(line) for line in data_file(without).splitlines())


def test_csv_has_a_column_per_field(project, lead, items):
    version = export_now(project, lead, format="csv")
    text = data_file(version).decode()
    header = text.splitlines()[0].split(",")
    assert header == ["item_id", "external_id", "split", "label", "text", "source", "revision",
                      *(f"meta.{key}" for key in KEYS)]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    first, second, third, fourth = rows
    assert first["label"] == "pos" and first["meta.label"] == "from-source"
    assert first["meta.text"] == '\'=HYPERLINK("x")'  # formula escaped (SECURITY.md B10)
    assert first["meta.nested"] == '{"a":[2],"b":1}' and first["meta.tags"] == '["a","b"]'
    assert (first["meta.n"], first["meta.score"], first["meta.flag"]) == ("1", "0.5", "true")
    assert second["meta.split"] == "theirs" and second["split"] == "all"
    assert (third["meta.n"], third["meta.lang"], third["meta.mixed"]) == ("", "", "x")
    assert (fourth["meta.mixed"], fourth["meta.z"]) == ("3", '{"k":"v"}')

    without = export_now(project, lead, format="csv", options={"include_meta": False})
    assert "meta." not in data_file(without).decode()


def test_parquet_has_a_typed_column_per_field(project, lead, items):
    version = export_now(project, lead, format="parquet")
    table = pq.read_table(io.BytesIO(data_file(version)))
    types = {name: str(table.schema.field(name).type) for name in table.column_names}
    assert table.column_names[:7] == ["item_id", "external_id", "split", "label", "text",
                                      "source", "revision"]  # fmt: skip
    assert table.column_names[7:] == [f"meta.{key}" for key in KEYS]
    assert {key: types[f"meta.{key}"] for key in KEYS} == {
        "flag": "bool",
        "label": "string",
        "lang": "string",
        "mixed": "string",  # a string and a number: JSON text
        "n": "int64",
        "nested": "string",  # objects: JSON text
        "score": "double",  # integers and reals: double
        "split": "string",
        "tags": "string",
        "text": "string",
        "z": "string",
    }
    frame = table.to_pylist()
    assert [r["meta.score"] for r in frame] == [0.5, 2.0, 1.25, None]
    assert [r["meta.n"] for r in frame] == [1, 2, None, None]
    assert [r["meta.mixed"] for r in frame] == [None, None, '"x"', "3"]
    assert frame[0]["meta.nested"] == '{"a":[2],"b":1}' and frame[0]["label"] == "pos"
    assert frame[0]["meta.text"] == '=HYPERLINK("x")'  # no spreadsheet escaping here

    without = export_now(project, lead, format="parquet", options={"include_meta": False})
    names = pq.read_schema(io.BytesIO(data_file(without))).names
    assert not [n for n in names if n.startswith("meta")]


def test_hf_loads_meta_as_a_dict(project, lead, items, tmp_path, settings):
    version = export_now(project, lead, format="hf")
    assert version.status == "succeeded", version.job.error
    folder = tmp_path / "hf"
    for entry in version.files:
        if entry["name"] != bundle.BUNDLE:
            target = folder / entry["name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            with versions.open_version_file(version, entry["name"]) as fh:
                target.write_bytes(fh.read())
    code = """
ds = datasets.load_dataset(folder)["train"]
print(json.dumps({"meta": ds.to_dict()["meta"], "feature": str(ds.features["meta"]),
                  "label": ds.to_dict()["label"]}))
"""
    loaded = hf_load(folder, tmp_path, code)
    assert loaded["label"] == ["pos", "neg", "pos", "neu"]
    first = loaded["meta"][0]
    assert set(first) == set(KEYS)
    assert (first["lang"], first["n"], first["score"], first["flag"]) == ("en", 1, 0.5, True)
    assert first["nested"] == '{"a":[2],"b":1}' and first["z"] is None
    assert loaded["meta"][3]["mixed"] == "3" and loaded["meta"][2]["lang"] is None
    assert "'n': Value('int64')" in loaded["feature"]


def test_include_meta_is_part_of_the_identity(project, lead, items, api_for):
    client = api_for(lead)
    url = f"/api/v1/projects/{project.pk}/exports/"
    with_meta = client.post(url, {"format": "csv"}, format="json").json()
    same = client.post(url, {"format": "csv", "options": {"include_meta": True}}, format="json")
    assert same.json()["id"] == with_meta["id"]
    assert with_meta["params"]["options"]["include_meta"] is True
    other = client.post(url, {"format": "csv", "options": {"include_meta": False}}, format="json")
    assert other.status_code == 202 and other.json()["id"] != with_meta["id"]
    bad = client.post(url, {"format": "csv", "options": {"include_meta": "no"}}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "options.include_meta"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_meta_keeps_the_files_canonical(project, lead, items, fmt):
    """The same records written again give the same bytes, whatever the key
    order of the stored meta."""
    version = export_now(project, lead, format=fmt)
    first = (version.sha256, data_file(version))
    for pk, meta in zip(items, METAS, strict=True):
        Item.objects.filter(pk=pk).update(meta=dict(reversed(list(meta.items()))))
    DatasetVersion.objects.filter(pk=version.pk).update(succeeded_at=None)
    retry = job_create(project=project, kind="export", user=lead, params={"version": version.pk})
    run_job(retry.pk, job.export_run)
    version.refresh_from_db()
    assert (version.sha256, data_file(version)) == first


def test_raw_keeps_meta_unless_left_out(project, lead, gold):
    gold(project, "annotated", "pos", meta={"source": "forum", "n": 2})
    raw = export_now(project, lead, format="raw")
    assert json.loads(data_file(raw))["meta"] == {"n": 2, "source": "forum"}
    without = export_now(project, lead, format="raw", options={"include_meta": False})
    assert "meta" not in json.loads(data_file(without))


def test_no_meta_no_meta_columns(project, lead, gold):
    gold(project, "plain", "pos")
    table = pq.read_table(io.BytesIO(data_file(export_now(project, lead, format="hf"))))
    assert [n for n in table.column_names if n.startswith("meta")] == []
    assert table.schema.field("item_id").type == pa.int64()
