"""Exports through the services and the API, with real PostgreSQL: each
format holds exactly the gold the filters select, identical requests give
one version, splits are stable, stratified and grouped, reconciliation
failures fail the job (SECURITY.md E5, E9, F6)."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import orjson
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.db import connection

from annotation.models import Item
from datasets import exports, formats
from datasets.formats.jsonl import Jsonl, JsonlWriter
from datasets.models import DatasetVersion
from projects import services
from projects.jobs import run_job
from projects.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def second(make_user, project):
    person = make_user("second")
    services.membership_set(project=project, user=person, roles=["annotator"])
    return person


@pytest.fixture
def gold(annotate, annotator, second):
    """Consensus gold: both annotators give ``value``."""

    def make(project, text: str, value, meta: dict | None = None):
        item = annotate(project, (annotator, value), (second, value), text=text)
        if meta is not None:
            Item.objects.filter(pk=item.pk).update(meta=meta)
        return item

    return make


def export(project, user, **params) -> DatasetVersion:
    """Start an export and run its job here (no worker)."""
    started = exports.export_start(project=project, user=user, raw={"format": "jsonl", **params})
    version = started.version
    if version.succeeded_at is None:
        run_job(version.job_id, exports.export_run)
    version = DatasetVersion.objects.select_related("job").get(pk=version.pk)
    return version


def read_file(version, split: str) -> bytes:
    entry = version.file(split=split)
    with exports.open_version_file(version, entry["name"]) as fh:
        return fh.read()


def jsonl(version, split: str = "all") -> list[dict]:
    return [json.loads(line) for line in read_file(version, split).splitlines()]


def test_jsonl_holds_exactly_the_gold(project, lead, gold):
    a = gold(project, "first", "pos")
    b = gold(project, "second", "neg")
    version = export(project, lead)
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
