"""Imports in the embedded mode (SQLite), run the way the embedded worker
runs them: each import job in a process of its own (``run_job`` with the
import, what the Celery task calls), while this process plays an annotator
in another project and the lead watching the job's page.

``main`` runs one scenario in an embedded-mode process (see
test_import_embedded.py) and prints ``RESULT <json>``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
CONFIG = {
    "labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}],
}


def rows(n: int, start: int = 0, prefix: str = "item") -> list[dict]:
    return [
        {"text": f"{prefix} {i} " + "lorem ipsum dolor " * 8, "external_id": f"e{i}"}
        for i in range(start, start + n)
    ]


def new_job(project, lead, lines: list[dict], extra: str = "", **options):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from items.importer import ImportOptions
    from projects.jobs import job_create

    body = "\n".join(json.dumps(r) for r in lines) + extra
    name = default_storage.save("imports/embedded.jsonl", ContentFile(body.encode()))
    params = {
        "file": name,
        "filename": "e.jsonl",
        "options": ImportOptions(format="jsonl", **options).__dict__,
    }
    return job_create(project=project, kind="import", user=lead, params=params)


def start_worker(job_id: int, chunk_rows: int | None = None) -> subprocess.Popen:
    """The worker's side of one job, in a process of its own (reading
    ``chunk_rows`` rows a chunk, if given)."""
    code = (
        "from items import importer, reading\n"
        "from projects.jobs import run_job\n"
        f"reading.CHUNK_ROWS = {chunk_rows or 'reading.CHUNK_ROWS'}\n"
        f"run_job({job_id}, importer.import_run)\n"
    )
    return subprocess.Popen(
        [sys.executable, str(MANAGE), "shell", "-c", code],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def table_rows(project_id: int) -> int:
    """Rows of the project in the item table, whatever their state."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM annotation_item WHERE project_id = %s", [project_id])
        return cursor.fetchone()[0]


def leftovers(project_id: int) -> dict:
    from items.models import ImportStaging, Item, StagedUpdate
    from projects.counters import counters_for

    counters = counters_for([project_id]).get(project_id, {})
    return {
        "visible": Item.objects.filter(project_id=project_id).count(),
        "rows": table_rows(project_id),
        "staging": ImportStaging.objects.filter(project_id=project_id).count(),
        "staged_updates": StagedUpdate.objects.count(),
        "items_counter": counters.get("items:total", 0),
    }


class Watch:
    """The job's row as a lead's page polls it, every 20 ms."""

    def __init__(self, job_id: int, project_id: int):
        self.job_id, self.project_id = job_id, project_id
        self.done_seen: list[int] = []
        self.visible_seen: set[int] = set()
        self.max_rows = 0

    def until(self, stop, timeout: float = 60) -> dict:
        from items.models import Item
        from projects.models import Job

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = Job.objects.filter(pk=self.job_id).values("status", "done").first()
            if job["status"] == "running":
                if not self.done_seen or self.done_seen[-1] != job["done"]:
                    self.done_seen.append(job["done"])
                self.visible_seen.add(Item.objects.filter(project_id=self.project_id).count())
                self.max_rows = max(self.max_rows, table_rows(self.project_id))
            if job["status"] in ("succeeded", "failed", "cancelled") or stop(job):
                return job
            time.sleep(0.02)
        raise AssertionError(f"gave up watching the job after {timeout} s")


def setup():
    from django.contrib.auth import get_user_model

    from items.services import ItemRow, items_create
    from projects import services

    User = get_user_model()
    lead = User.objects.create_user("lead", password=None)
    annotator = User.objects.create_user("annotator", password=None)
    other = services.project_create(
        user=lead, name="Other", task_type="classification", config=CONFIG, overlap=1
    )
    services.membership_set(project=other, user=annotator, roles=["annotator"])
    items_create(
        project=other, rows=[ItemRow({"text": f"other {i}"}) for i in range(3000)], config=CONFIG
    )
    return lead, annotator, other


def project(lead, name: str):
    from projects import services

    return services.project_create(user=lead, name=name, task_type="classification", config=CONFIG)


def beside(n: int) -> dict:
    """An import while an annotator claims and submits in another project."""
    from django.db import connection
    from rest_framework.test import APIClient

    from annotation.queue.claim import assignment_claim
    from annotation.queue.submit import annotation_submit

    lead, annotator, other = setup()
    target = project(lead, "Target")
    job = new_job(target, lead, rows(n))
    claims: list[float] = []
    running = threading.Event()
    stop = threading.Event()
    errors: list[str] = []

    def annotate():
        try:
            while not stop.is_set():
                started = time.monotonic()
                got = assignment_claim(project=other, user=annotator)
                took = time.monotonic() - started
                annotation_submit(assignment=got.assignment, user=annotator, value="pos")
                if running.is_set():
                    claims.append(took)
                time.sleep(0.02)
        except BaseException as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    thread = threading.Thread(target=annotate)
    thread.start()
    worker = start_worker(job.pk)
    watch = Watch(job.pk, target.pk)

    api: list[dict] = []

    def mark_running(row):
        if row["status"] == "running":
            running.set()
        if watch.max_rows > 0 and not api:
            # What the lead's client sees while rows are staged.
            client = APIClient()
            client.force_authenticate(lead)
            items = client.get(f"/api/v1/projects/{target.pk}/items/")
            stats = client.get(f"/api/v1/projects/{target.pk}/stats/")
            first = client.get(f"/api/v1/projects/{target.pk}/items/{first_id()}/")
            api.append(
                {
                    "listed": len(items.json()["results"]),
                    "stats": stats.json(),
                    "first": first.status_code,
                }
            )
        return False

    def first_id() -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT MIN(id) FROM annotation_item WHERE project_id = %s", [target.pk])
            return cursor.fetchone()[0]

    final = watch.until(mark_running)
    running.clear()
    stop.set()
    thread.join()
    worker.wait(60)
    return {
        "status": final["status"],
        "claims": claims,
        "errors": errors,
        "done_seen": watch.done_seen,
        "visible_seen": sorted(watch.visible_seen),
        "max_rows": watch.max_rows,
        "api_while_staged": api,
        "after": leftovers(target.pk),
    }


def cancelled(n: int) -> dict:
    """The lead cancels once the progress bar has moved."""
    from projects.jobs import job_cancel
    from projects.models import Job

    lead, _, _ = setup()
    target = project(lead, "Target")
    job = new_job(target, lead, rows(n))
    worker = start_worker(job.pk)
    watch = Watch(job.pk, target.pk)
    asked: list[float] = []
    running: list[float] = []

    def cancel_when_moving(row):
        if row["status"] == "running" and not running:
            running.append(time.monotonic())
        # Once rows are being written, or a second into the job at the latest.
        if running and not asked and (watch.max_rows > 0 or time.monotonic() - running[0] > 1):
            asked.append(time.monotonic())
            job_cancel(job=Job.objects.get(pk=job.pk))
        return False

    final = watch.until(cancel_when_moving)
    ended = time.monotonic()
    worker.wait(60)
    return {
        "status": final["status"],
        "cancel_to_end": ended - asked[0] if asked else None,
        "max_rows": watch.max_rows,
        "visible_seen": sorted(watch.visible_seen),
        "after": leftovers(target.pk),
    }


def failed(n: int) -> dict:
    """A strict import whose last line is bad, and an update import that
    fails the same way: nothing of either is left, the items it would have
    replaced keep their content."""
    from items.models import Item

    lead, _, _ = setup()
    target = project(lead, "Target")
    job = new_job(target, lead, rows(n), extra='\n{"text": ""}\n')
    # Small chunks: the reader, at most four chunks ahead of the writing,
    # reaches the bad last line only once rows have been written.
    worker = start_worker(job.pk, chunk_rows=n // 10)
    watch = Watch(job.pk, target.pk)
    final = watch.until(lambda row: False)
    worker.wait(60)
    first = {
        "status": final["status"],
        "max_rows": watch.max_rows,
        "visible_seen": sorted(watch.visible_seen),
        "after": leftovers(target.pk),
    }
    # The same ids with new content, replacing (on_conflict=update), then a
    # bad line: nothing replaced.
    base = new_job(target, lead, rows(50))
    start_worker(base.pk).wait(60)
    before = dict(Item.objects.filter(project=target).values_list("external_id", "content_hash"))
    update = new_job(
        target, lead, rows(50, prefix="new"), extra='\n{"text": ""}\n', on_conflict="update"
    )
    start_worker(update.pk).wait(60)
    after = dict(Item.objects.filter(project=target).values_list("external_id", "content_hash"))
    from projects.models import Job

    return {
        **first,
        "update_status": Job.objects.get(pk=update.pk).status,
        "content_unchanged": before == after and len(before) == 50,
        "after_update": leftovers(target.pk),
    }


def killed(n: int) -> dict:
    """A worker killed mid-import: its staged rows are never visible; the
    redelivered job removes them and imports the file exactly once. A second
    killed import's rows are removed by the sweep once its job is failed."""
    from items.models import Item
    from projects.models import Job

    lead, _, _ = setup()
    target = project(lead, "Target")
    job = new_job(target, lead, rows(n))
    worker = start_worker(job.pk)
    watch = Watch(job.pk, target.pk)
    watch.until(lambda row: watch.max_rows >= 2000, timeout=20)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    killed_state = {"job": Job.objects.get(pk=job.pk).status, **leftovers(target.pk)}
    start_worker(job.pk).wait(120)  # the redelivery
    retried = Job.objects.get(pk=job.pk)
    after_retry = {
        "status": retried.status,
        "created": retried.result.get("created"),
        "attempts": retried.attempts,
        "distinct": Item.objects.filter(project=target).values("content_hash").distinct().count(),
        **leftovers(target.pk),
    }

    second = project(lead, "Second")
    job2 = new_job(second, lead, rows(n))
    worker = start_worker(job2.pk)
    watch = Watch(job2.pk, second.pk)
    watch.until(lambda row: watch.max_rows >= 2000, timeout=20)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    before_sweep = leftovers(second.pk)
    Job.objects.filter(pk=job2.pk).update(status="failed")  # as the stale-job beat does
    from items.staging import staging_sweep

    staging_sweep()
    return {
        "killed": killed_state,
        "retried": after_retry,
        "before_sweep": before_sweep,
        "after_sweep": leftovers(second.pk),
    }


def two_at_once(n: int) -> dict:
    """Two imports into one project at the same time, overlapping in half
    their rows: every row once, counted once as created."""
    from items.models import Item
    from projects.models import Job

    lead, _, _ = setup()
    target = project(lead, "Target")
    jobs = [new_job(target, lead, rows(n)), new_job(target, lead, rows(n, start=n // 2))]
    workers = [start_worker(j.pk) for j in jobs]
    for w in workers:
        w.wait(120)
    finished = [Job.objects.get(pk=j.pk) for j in jobs]
    return {
        "statuses": [j.status for j in finished],
        "created": sum(j.result.get("created", 0) for j in finished),
        "duplicates": sum(j.result.get("duplicates", 0) for j in finished),
        "items": Item.objects.filter(project=target).count(),
        **leftovers(target.pk),
    }


SCENARIOS = {
    "beside": beside,
    "cancelled": cancelled,
    "failed": failed,
    "killed": killed,
    "two_at_once": two_at_once,
}


def main(name: str, n: int) -> None:
    from django.db import connection

    assert connection.vendor == "sqlite", connection.vendor
    print("RESULT " + json.dumps(SCENARIOS[name](n)), flush=True)
