"""Exports in the embedded mode (SQLite): a fresh data folder is migrated
and the same gold is made there as in PostgreSQL (tests/datasets/
sqlite_scenario.py); every export of it — JSONL, CSV, Parquet and raw, with
and without filters and provenance, no splits — holds the same bytes on
both. The Export page, the API and the downloads work there too."""

from __future__ import annotations

import json
import os
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.ops.helpers import MANAGE, embedded_migrated, run

SCENARIO = "from tests.datasets.sqlite_scenario import main\nmain()"
PAGES = r"""
import io, json, zipfile
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient
from accounts.tokens import token_issue
from exports import job, versions
from exports.models import DatasetVersion
from projects.jobs import run_job
from tests.datasets.sqlite_scenario import build

assert connection.vendor == "sqlite", connection.vendor
made = build()
lead, project = made["lead"], made["single"]
pages = Client()
pages.force_login(lead)
page = f"/projects/{project.pk}/exports/"
result = {"page": pages.get(page).status_code}
started = pages.post(page + "new/", {"format": "csv", "no_splits": "on"})
result["form"] = [started.status_code, started.headers.get("Location")]
version = DatasetVersion.objects.get(project=project)
run_job(version.job_id, job.export_run)
card = pages.get(f"{page}{version.pk}/")
result["card"] = [card.status_code, card.content.decode()]
with versions.open_version_file(version, "all.csv") as fh:
    stored = fh.read()
got = pages.get(f"/api/v1/exports/{version.pk}/download/?split=all")
result["page_download"] = [got.status_code, got["Content-Type"], b"".join(got.streaming_content) == stored]

key, _ = token_issue(user=lead)
api = APIClient()
api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
answer = api.post(f"/api/v1/projects/{project.pk}/exports/", {"format": "jsonl", "splits": None}, format="json")
result["start"] = [answer.status_code, answer.json()["status"]]
run_job(answer.json()["job"]["id"], job.export_run)
detail = api.get(f"/api/v1/exports/{answer.json()['id']}/").json()
result["detail"] = [detail["status"], detail["records"], detail["counts"]["splits"]]
part = api.get(f"/api/v1/exports/{detail['id']}/download/?split=all")
result["jsonl"] = [part.status_code, b"".join(part.streaming_content).decode()]
bundle = api.get(f"/api/v1/exports/{detail['id']}/download/")
names = zipfile.ZipFile(io.BytesIO(b"".join(bundle.streaming_content))).namelist()
result["zip"] = [bundle.status_code, bundle["Content-Type"], sorted(names)]
again = api.post(f"/api/v1/projects/{project.pk}/exports/", {"format": "jsonl"}, format="json")
result["again"] = [again.status_code, again.json()["id"] == detail["id"]]
bad = api.post(f"/api/v1/projects/{project.pk}/exports/", {"format": "jsonl", "filters": {"labels": ["nope"]}}, format="json")
result["bad"] = [bad.status_code, bad.json()]
from exports.models import ItemSplit
exports_url = f"/api/v1/projects/{project.pk}/exports/"
grouped = {"format": "jsonl", "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
           "group_by": "source", "dry_run": True}
refused = api.post(exports_url, grouped, format="json")
result["dry_refused"] = [refused.status_code, refused.json()["splits"],
                         [e["reason"].split(":")[0] for e in refused.json()["errors"]]]
split = {"format": "jsonl", "splits": {"train": 0.6, "test": 0.4}}
dry = api.post(exports_url, {**split, "dry_run": True}, format="json")
result["dry"] = [dry.status_code, dry.json()]
result["assigned_after_dry_runs"] = ItemSplit.objects.count()
real = api.post(exports_url, split, format="json").json()
run_job(real["job"]["id"], job.export_run)
result["real"] = api.get(f"/api/v1/exports/{real['id']}/").json()["counts"]["splits"]
print("RESULT " + json.dumps(result))
"""


def _shell(env: dict, script: str) -> dict:
    """Run ``script`` with ``accord shell``; return what it printed after RESULT."""
    done = run([sys.executable, str(MANAGE), "shell", "-c", script], env, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _embedded(tmp_path, script: str) -> dict:
    """``script``'s result on a fresh, migrated embedded data folder."""
    return _shell(embedded_migrated(tmp_path / "data", ALLOWED_HOSTS="testserver"), script)


def _on_test_database(script: str) -> dict:
    """``script``'s result in server mode on the test's PostgreSQL database.
    A process of its own, like the SQLite side: the services keep label
    schemas per process by project id, and ids start again at 1 here.

    The media folder is this process's: a test Celery worker still running
    (it shares the broker) may take an export job before the script runs it,
    and writes the files where its settings say."""
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        ACCORD_MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    return _shell(env, script)


@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_sqlite_exports_the_same_bytes_as_postgresql(tmp_path):
    on_sqlite = _embedded(tmp_path, SCENARIO)
    on_postgresql = _on_test_database(SCENARIO)

    for name, export in on_sqlite.items():
        assert export["status"] == "succeeded", (name, export["error"])
        assert export == on_postgresql[name], name
    records = {name: export["records"] for name, export in on_sqlite.items()}
    assert records == {
        "jsonl": 5,  # six items, one excluded
        "jsonl-provenance": 5,
        "jsonl-adjudicated-neg": 1,
        "csv": 5,
        "csv-decided-in-january": 4,  # from 03:04:05.12 inclusive to .000005 exclusive
        "parquet": 5,
        "parquet-with-excluded": 6,
        "raw": 6,
        "multi-jsonl": 4,
        "multi-spam-or-off-topic": 2,
    }
    lines = [
        json.loads(x) for x in on_sqlite["jsonl-provenance"]["files"]["all.jsonl"].split("\n")[:-1]
    ]
    adjudicated = next(x for x in lines if x["source"] == "adjudicated")
    assert adjudicated["provenance"]["reason"] == "checked, ü"
    assert adjudicated["provenance"]["decided_at"] == "2026-01-03T00:00:00.000005+00:00"
    assert [a["submitted_at"] for a in lines[0]["provenance"]["annotations"]] == [
        "2026-01-02T03:04:05.12+00:00",
        "2026-01-02T03:04:06+00:00",
    ]
    raw = [json.loads(x) for x in on_sqlite["raw"]["files"]["all.jsonl"].split("\n")[:-1]]
    excluded = next(x for x in raw if x["gold"]["excluded"])
    assert excluded["gold"]["value"] is None
    assert [r["excluded"] for r in excluded["adjudications"]] == [True]


@pytest.mark.timeout(300)
def test_export_page_api_and_downloads_on_sqlite(tmp_path):
    result = _embedded(tmp_path, PAGES)

    assert result["page"] == 200
    status, location = result["form"]
    assert status == 302 and location.endswith("/exports/")
    status, card = result["card"]
    assert status == 200
    assert 'data-status="succeeded"' in card and "Download all (zip)" in card
    assert result["page_download"] == [200, "text/csv; charset=utf-8", True]
    assert result["start"] == [202, "queued"]
    assert result["detail"] == ["succeeded", 5, {"all": 5}]
    status, body = result["jsonl"]
    assert status == 200
    rows = [json.loads(line) for line in body.splitlines()]
    assert [(r["label"], r["source"]) for r in rows] == [
        ("pos", "consensus"),
        ("neg", "consensus"),
        ("neg", "adjudicated"),
        ("neu", "consensus"),
        ("pos", "adjudicated"),
    ]
    assert result["zip"] == [
        200,
        "application/zip",
        ["all.jsonl", "datasheet.json", "manifest.jsonl"],
    ]
    assert result["again"] == [200, True]
    status, error = result["bad"]
    assert status == 400
    assert "filters.labels" in json.dumps(error)
    # Dry runs: the sizes, nothing assigned; one source for three splits is
    # refused, and an accepted one is what the export then writes.
    status, sizes, reasons = result["dry_refused"]
    assert status == 400
    assert sizes["train"] == {"records": 5, "groups": 1, "new_records": 5}
    assert reasons == ["test would get no records", "validation would get no records"]
    status, dry = result["dry"]
    assert status == 200 and dry["errors"] == [] and dry["new_records"] == 5
    assert result["assigned_after_dry_runs"] == 0
    assert {name: s["records"] for name, s in dry["splits"].items()} == result["real"]
    assert all(result["real"].values())
