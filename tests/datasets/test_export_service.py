"""Exports through the services and the API, with real PostgreSQL: each
format holds exactly the gold the filters select, identical requests give
one version, splits are stable, stratified and grouped, reconciliation
failures fail the job (SECURITY.md E5, E9, F6).

Over 500 lines: one file, so the module-scoped project and gold it builds
once serve every case (the suite runs a file per process at a time)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command

from accord.errors import InvalidInput
from exports import bundle, formats, job, start, versions
from exports.formats.jsonl import Jsonl, JsonlWriter
from exports.models import DatasetVersion, ItemSplit
from items.models import Item
from projects.jobs import run_job
from projects.models import Job
from tests.datasets.exporting import export_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def read_file(version, split: str) -> bytes:
    entry = version.file(split=split)
    with versions.open_version_file(version, entry["name"]) as fh:
        return fh.read()


def jsonl(version, split: str = "all") -> list[dict]:
    return [json.loads(line) for line in read_file(version, split).splitlines()]


def test_jsonl_holds_exactly_the_gold(project, lead, gold):
    a = gold(project, "first", "pos")
    b = gold(project, "second", "neg")
    version = export_now(project, lead)
    assert version.status == "succeeded", version.job.error
    rows = jsonl(version)
    assert [(r["item_id"], r["label"], r["text"], r["split"]) for r in rows] == [
        (a.pk, "pos", "first", "all"),
        (b.pk, "neg", "second", "all"),
    ]
    assert version.records == 2
    assert version.counts["splits"] == {"all": 2}
    assert version.counts["labels"] == {"neg": 1, "pos": 1}
    assert len(version.sha256) == 64 and len(version.datasheet_sha256) == 64


# --- helpers -----------------------------------------------------------------------


def bulk_gold(project, labels: list, *, metas: list | None = None, start: int = 0) -> list[int]:
    """Items with consensus gold made in bulk (no annotations): one per label."""
    import hashlib

    from django.utils import timezone

    from review.models import GoldRecord

    items = Item.objects.bulk_create(
        [
            Item(
                project=project,
                data={"text": f"bulk {start + n}"},
                meta=(metas[n] if metas else {}),
                content_hash=hashlib.sha256(f"bulk {start + n}".encode()).hexdigest(),
                state="gold",
            )
            for n in range(len(labels))
        ]
    )
    now = timezone.now()
    GoldRecord.objects.bulk_create(
        [
            GoldRecord(
                project=project, item=item, value=label, source="consensus",
                config_version=1, decided_at=now,
            )
            for item, label in zip(items, labels, strict=True)
        ]
    )  # fmt: skip
    return [item.pk for item in items]


def adjudicate(project, reviewer, item, **decision):
    from review import gold as gold_service
    from review import leases

    review = leases.review_claim(project=project, user=reviewer).review
    assert review.item_id == item.pk
    return gold_service.review_resolve(review=review, user=reviewer, **decision)[0]


def splits_of(ids) -> dict[int, str]:
    return dict(ItemSplit.objects.filter(item_id__in=ids).values_list("item_id", "split"))


# --- every format ------------------------------------------------------------------


@pytest.fixture
def mixed(project, gold, annotate, annotator, second, reviewer):
    """Two consensus records, one adjudicated, one excluded, one item
    without gold (in review)."""
    a = gold(project, "=SUM(1) alpha", "pos")
    b = gold(project, "beta", "neg")
    c = annotate(project, (annotator, "pos"), (second, "neg"), text="gamma")
    adjudicate(project, reviewer, c, value="neu", reason="neither", reason_code="annotator_slip")
    d = annotate(project, (annotator, "pos"), (second, "neg"), text="delta")
    adjudicate(project, reviewer, d, exclude=True, reason="not English", reason_code="bad_item")
    e = annotate(project, (annotator, "pos"), (second, "neg"), text="epsilon")
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


GOLD_SELECTED = [("a", "pos"), ("b", "neg"), ("c", "neu")]


def test_jsonl_with_provenance(project, lead, mixed, annotator, second, reviewer):
    version = export_now(project, lead, options={"provenance": True})
    rows = jsonl(version)
    assert [(r["item_id"], r["label"]) for r in rows] == [
        (mixed[k].pk, v) for k, v in GOLD_SELECTED
    ]
    adjudicated = rows[2]
    assert adjudicated["source"] == "adjudicated"
    prov = adjudicated["provenance"]
    assert prov["reviewer"] == reviewer.pk and prov["reason"] == "neither"
    assert [(n["annotator"], n["value"]) for n in prov["annotations"]] == [
        (annotator.pk, "pos"),
        (second.pk, "neg"),
    ]
    assert rows[0]["text"] == "=SUM(1) alpha"  # JSON keeps the raw value (B10)
    sheet = version.datasheet
    assert sheet["records"] == 3
    assert {p["username"] for p in sheet["annotators"]} == {"annotator", "second"}
    assert sheet["reviewers"] == [{"id": reviewer.pk, "username": "reviewer"}]
    assert sheet["gold_sources"] == {"adjudicated": 1, "consensus": 2}
    assert sheet["counts"]["labels_by_split"] == {"all": {"neg": 1, "neu": 1, "pos": 1}}
    # α of these records' annotations: pos/pos, neg/neg, pos/neg (by hand:
    # 1 - (5 × 2/6) / (2 × 3 × 3 / 6) = 4/9); the excluded and unreviewed
    # items are not in the export, so not in the figure.
    agreement = sheet["agreement"]
    assert agreement["value"] == pytest.approx(4 / 9, abs=1e-12)
    assert (agreement["n"], agreement["annotations"], agreement["items"]) == (3, 6, 3)
    assert sheet["accord_version"]
    manifest = [
        orjson.loads(line)
        for line in versions.open_version_file(version, bundle.MANIFEST).read().splitlines()
    ]
    assert manifest == [
        {"item": mixed[k].pk, "revision": 1, "split": "all", "label": v} for k, v in GOLD_SELECTED
    ]


def test_csv_parquet_chat_hold_the_gold(project, lead, mixed):
    want = [(mixed[k].pk, v) for k, v in GOLD_SELECTED]
    version = export_now(project, lead, format="csv")
    rows = list(csv.DictReader(io.StringIO(read_file(version, "all").decode())))
    assert [(int(r["item_id"]), r["label"]) for r in rows] == want
    assert rows[0]["text"] == "'=SUM(1) alpha"  # formula escaped (B10)

    version = export_now(project, lead, format="parquet")
    table = pq.read_table(io.BytesIO(read_file(version, "all")))
    assert list(zip(table["item_id"].to_pylist(), table["label"].to_pylist(), strict=True)) == want

    version = export_now(project, lead, format="chat", options={"system_prompt": "Classify."})
    lines = [json.loads(x) for x in read_file(version, "all").splitlines()]
    assert [line["messages"][-1]["content"] for line in lines] == [v for _, v in GOLD_SELECTED]


def test_hf_folder_files_exist(project, lead, mixed):
    # Three records, one per label, all in train at 0.5/0.5 (which is
    # refused): a test split of share 0 still has its (empty) file.
    version = export_now(project, lead, format="hf", splits={"train": 1.0, "test": 0.0})
    assert version.status == "succeeded", version.job.error
    names = {f["name"] for f in version.files}
    assert {"data/train.parquet", "data/test.parquet", "README.md", "datasheet.json"} <= names
    with zipfile.ZipFile(versions.open_version_file(version, bundle.BUNDLE)) as archive:
        assert {"data/train.parquet", "data/test.parquet", "README.md"} <= set(archive.namelist())


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_bundle_holds_every_file_as_stored(project, lead, fmt):
    """The bundle is assembled from what was made while the files were
    written: each member reads back, crc checked, as the stored file's
    bytes; JSON is deflated, Parquet (zstd inside) stored as it is; names
    are sorted and dates fixed. Enough records that the data files cross
    many write chunks."""
    bulk_gold(project, [f"label{n % 3}" for n in range(30_000)])
    version = export_now(project, lead, format=fmt, splits={"train": 0.8, "test": 0.2})
    assert version.status == "succeeded", version.job.error
    stored = {f["name"]: f for f in version.files if f["name"] != bundle.BUNDLE}
    zipped = next(f for f in version.files if f["name"] == bundle.BUNDLE)
    with versions.open_version_file(version, bundle.BUNDLE) as fh:
        body = fh.read()
    assert (len(body), hashlib.sha256(body).hexdigest()) == (zipped["size"], zipped["sha256"])
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == sorted(stored)
        for info in archive.infolist():
            assert info.date_time == bundle.ZIP_DATE
            packed = info.filename.endswith(".parquet")
            assert info.compress_type == (zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED)
            with versions.open_version_file(version, info.filename) as fh:
                assert archive.read(info) == fh.read(), info.filename
    assert stored["manifest.jsonl"]["size"] > 1 << 20  # more than one buffer's worth


def test_raw_holds_every_annotated_item(project, lead, mixed):
    version = export_now(project, lead, format="raw")
    rows = jsonl(version)
    assert [r["item_id"] for r in rows] == sorted(m.pk for k, m in mixed.items() if k != "d")
    no_gold = next(r for r in rows if r["item_id"] == mixed["e"].pk)
    assert no_gold["gold"] is None and len(no_gold["annotations"]) == 2
    adjudicated = next(r for r in rows if r["item_id"] == mixed["c"].pk)
    assert [h["value"] for h in adjudicated["adjudications"]] == ["neu"]


def test_include_excluded(project, lead, mixed):
    rows = jsonl(export_now(project, lead, filters={"include_excluded": True}))
    excluded = next(r for r in rows if r["item_id"] == mixed["d"].pk)
    assert excluded["label"] is None


def test_filters(project, lead, mixed):
    from django.utils import timezone

    from review.models import GoldRecord

    def ids(**filters) -> list[int]:
        return [r["item_id"] for r in jsonl(export_now(project, lead, filters=filters))]

    a, b, c = (mixed[k].pk for k in "abc")
    assert ids(source=["adjudicated"]) == [c]
    assert ids(source=["consensus"]) == [a, b]
    assert ids(labels=["pos", "neu"]) == [a, c]
    GoldRecord.objects.filter(item_id=a).update(min_guideline_version=3)
    GoldRecord.objects.filter(item_id=b).update(min_guideline_version=1)
    assert ids(min_guideline_version=2) == [a]
    early = timezone.now() - timezone.timedelta(days=10)
    GoldRecord.objects.filter(item_id=b).update(decided_at=early)
    cut = (early + timezone.timedelta(days=1)).isoformat()
    assert ids(decided_to=cut) == [b]
    assert ids(decided_from=cut) == [a, c]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "nope"}, "format"),
        ({"format": "preference"}, "format"),
        ({"format": "jsonl", "splits": {"train": 0.8, "test": 0.1}}, "splits"),
        ({"format": "jsonl", "splits": {"train": 1.2, "test": -0.2}}, "splits.test"),
        ({"format": "jsonl", "splits": {"Train!": 1.0}}, "splits.Train!"),
        ({"format": "jsonl", "splits": {"all": 1.0}}, "splits.all"),
        ({"format": "jsonl", "group_by": "doc"}, "group_by"),
        ({"format": "jsonl", "filters": {"labels": ["nope"]}}, "filters.labels"),
        ({"format": "jsonl", "filters": {"decided_from": "yesterday"}}, "filters.decided_from"),
        ({"format": "jsonl", "filters": {"colour": "red"}}, "filters.colour"),
        ({"format": "jsonl", "filters": {"source": ["robot"]}}, "filters.source"),
        ({"format": "jsonl", "options": {"provenance": "yes"}}, "options.provenance"),
        ({"format": "jsonl", "extra": 1}, "extra"),
    ],
)
def test_bad_parameters_are_400_and_store_nothing(project, lead, gold, api_for, body, field):
    gold(project, "one", "pos")
    response = api_for(lead).post(f"/api/v1/projects/{project.pk}/exports/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not DatasetVersion.objects.exists()
    assert not Job.objects.filter(kind="export").exists()
    project.refresh_from_db()
    assert project.split_names == []


# --- identical requests ---------------------------------------------------------------


def test_same_request_twice_is_the_same_version(project, lead, gold, api_for):
    gold(project, "one", "pos")
    client = api_for(lead)
    url = f"/api/v1/projects/{project.pk}/exports/"
    first = client.post(url, {"format": "jsonl", "splits": None}, format="json")
    assert first.status_code == 202
    again = client.post(url, {"format": "jsonl"}, format="json")
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["job"]["id"] == first.json()["job"]["id"]
    run_job(first.json()["job"]["id"], job.export_run)
    done = client.post(url, {"format": "jsonl"}, format="json")
    assert done.status_code == 200
    assert done.json()["id"] == first.json()["id"] and done.json()["status"] == "succeeded"
    assert (
        done.json()["sha256"]
        == client.get(f"/api/v1/exports/{first.json()['id']}/").json()["sha256"]
    )
    assert Job.objects.filter(kind="export").count() == 1


def test_a_rerun_writes_the_same_bytes(project, lead, gold):
    """Canonical files: the same gold written again hashes the same."""
    for n in range(5):
        gold(project, f"text {n}", "pos" if n % 2 else "neg")
    version = export_now(project, lead, splits={"train": 0.6, "test": 0.4})
    first = (version.sha256, read_file(version, "train"))
    DatasetVersion.objects.filter(pk=version.pk).update(succeeded_at=None)
    from projects.jobs import job_create

    retry = job_create(project=project, kind="export", user=lead, params={"version": version.pk})
    run_job(retry.pk, job.export_run)
    version.refresh_from_db()
    assert (version.sha256, read_file(version, "train")) == first


def test_gold_grows_new_version_and_items_keep_their_splits(project, lead):
    spec = {"train": 0.5, "validation": 0.25, "test": 0.25}
    first_ids = bulk_gold(project, ["pos", "neg"] * 20)
    v1 = export_now(project, lead, splits=spec)
    before = splits_of(first_ids)
    assert set(before.values()) == {"train", "validation", "test"}
    more = bulk_gold(project, ["pos", "neg"] * 20, start=100)
    # Other ratios apply to the new items only.
    v2 = export_now(project, lead, splits={"train": 0.8, "validation": 0.1, "test": 0.1})
    assert v2.pk != v1.pk and v2.sha256 != v1.sha256
    assert splits_of(first_ids) == before
    rows = {r["item_id"]: r["split"] for s in spec for r in jsonl(v2, s)}
    assert {i: rows[i] for i in first_ids} == before
    assert all(rows[i] for i in more)
    compare = versions.manifest_compare(v1, v2)
    assert compare["counts"] == {"added": 40, "removed": 0, "relabelled": 0, "moved_split": 0}
    assert compare["items"]["added"] == sorted(more)


def test_other_split_names_are_refused(project, lead):
    bulk_gold(project, ["pos"] * 4)
    export_now(project, lead, splits={"train": 0.5, "test": 0.5})
    with pytest.raises(InvalidInput) as refused:
        start.export_start(
            project=project,
            user=lead,
            raw={"format": "jsonl", "splits": {"train": 0.9, "dev": 0.1}},
        )
    assert refused.value.errors[0]["field"] == "splits"


def test_stratified_on_a_skewed_label_distribution(project, lead):
    ids = bulk_gold(project, ["pos"] * 180 + ["neg"] * 20)
    spec = {"train": 0.8, "validation": 0.1, "test": 0.1}
    version = export_now(project, lead, splits=spec)
    by_split = version.counts["labels_by_split"]
    for label, size in (("pos", 180), ("neg", 20)):
        for split, share in spec.items():
            got = by_split[split].get(label, 0)
            assert abs(got - share * size) <= 2, (label, split, got)
    assert sum(version.counts["splits"].values()) == 200
    assert all(splits_of(ids).values())


def test_groups_never_straddle_splits(project, lead):
    metas = [{"doc": f"doc-{n % 25}"} for n in range(150)]
    labels = ["pos" if n % 3 else "neg" for n in range(150)]
    ids = bulk_gold(project, labels, metas=metas)
    export_now(project, lead, splits={"train": 0.6, "validation": 0.2, "test": 0.2}, group_by="doc")
    by_doc: dict[str, set] = {}
    splits = splits_of(ids)
    for item_id, meta in zip(ids, metas, strict=True):
        by_doc.setdefault(meta["doc"], set()).add(splits[item_id])
    assert all(len(s) == 1 for s in by_doc.values())
    assert len({next(iter(s)) for s in by_doc.values()}) == 3
    # A later item of a known group joins its group's split.
    late = bulk_gold(project, ["neg"], metas=[{"doc": "doc-3"}], start=999)
    export_now(project, lead, splits={"train": 0.6, "validation": 0.2, "test": 0.2}, group_by="doc")
    assert splits_of(late)[late[0]] == next(iter(by_doc["doc-3"]))


# --- reconciliation ----------------------------------------------------------------------


class _Dropping(Jsonl):
    key = "test-dropping"

    def writer(self, out, *, task_type, config, options):
        inner = JsonlWriter(out, task_type=task_type, config=config, options=options)
        seen = []

        class Writer:
            def write(self, row):
                seen.append(row.item_id)
                if len(seen) != 2:
                    inner.write(row)

            def close(self):
                inner.close()

        return Writer()


def export_failing_with(fmt, project, lead) -> DatasetVersion:
    """Export through a test format; the job fails and marks nothing done."""
    formats.register(fmt)
    try:
        version = export_now(project, lead, format=fmt.key)
    finally:
        formats.FORMATS.pop(fmt.key)
    assert version.status == "failed"
    assert version.succeeded_at is None and version.sha256 == ""
    return version


def test_a_file_that_lost_a_record_fails_the_job(project, lead, gold):
    for n in range(3):
        gold(project, f"text {n}", "pos")
    version = export_failing_with(_Dropping(), project, lead)
    assert "all.jsonl holds 2 records; the manifest lists 3" in version.job.error


class _Swapping(Jsonl):
    """Writes the item ``first`` after the one that follows it."""

    key = "test-swapping"

    def __init__(self, first: int) -> None:
        self.first = first

    def writer(self, out, *, task_type, config, options):
        inner = JsonlWriter(out, task_type=task_type, config=config, options=options)
        held, first = [], self.first

        class Writer:
            def write(self, row):
                if not held and row.item_id == first:
                    held.append(row)
                    return
                inner.write(row)
                if held:
                    inner.write(held.pop())

            def close(self):
                inner.close()

        return Writer()


def test_a_file_in_another_order_than_the_manifest_fails_the_job(project, lead, gold):
    items = [gold(project, f"text {n}", "pos") for n in range(3)]
    version = export_failing_with(_Swapping(first=items[0].pk), project, lead)
    assert "all.jsonl differs from the manifest" in version.job.error


class LossyStorage(FileSystemStorage):
    """A storage that loses the last line of every manifest it stores."""

    def _save(self, name, content):
        saved = super()._save(name, content)
        if name.endswith("manifest.jsonl"):
            path = self.path(saved)
            with open(path, "rb") as fh:
                lines = fh.read().splitlines(keepends=True)
            with open(path, "wb") as fh:
                fh.write(b"".join(lines[:-1]))
        return saved


def test_a_stored_manifest_that_lost_a_line_fails_the_job(project, lead, gold, settings):
    for n in range(3):
        gold(project, f"text {n}", "pos")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.LossyStorage"},
    }
    version = export_now(project, lead)
    assert version.status == "failed"
    assert version.succeeded_at is None and version.sha256 == ""
    assert "The stored manifest.jsonl is not the file that was written" in version.job.error


def test_the_work_folder_is_left_empty_and_a_killed_jobs_goes_after_a_day(
    project, lead, gold, settings
):
    gold(project, "text", "pos")
    work = Path(settings.MEDIA_ROOT) / "exports" / ".work"
    killed = work / "accord-export-killed"
    killed.mkdir(parents=True)
    (killed / "all.jsonl").write_bytes(b"half a line")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(killed, (two_days_ago, two_days_ago))
    running = work / "accord-export-running"
    running.mkdir()
    version = export_now(project, lead)
    assert version.status == "succeeded", version.job.error
    assert [p.name for p in work.iterdir()] == ["accord-export-running"]
    assert jsonl(version)[0]["text"] == "text"


def test_management_command(project, lead, gold, tmp_path, capsys):
    for n in range(4):
        gold(project, f"text {n}", "pos")
    out = tmp_path / "out"
    call_command(
        "export_dataset", str(project.pk), "--format", "jsonl",
        "--splits", "train=0.5,test=0.5", "--provenance", "--out", str(out),
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "succeeded" and result["records"] == 4
    files = sorted(p.name for p in out.iterdir())
    assert files == ["datasheet.json", "manifest.jsonl", "test.jsonl", "train.jsonl"]
    assert sum(len(p.read_text().splitlines()) for p in out.glob("t*.jsonl")) == 4
