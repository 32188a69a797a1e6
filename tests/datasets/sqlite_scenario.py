"""The same gold on PostgreSQL and on SQLite, and what its exports hold.

``build`` makes two projects through the services (a single-label one with
consensus, adjudicated and excluded gold, with a guideline version; a
multi-label one), then pins every time the export writes (annotations
through the ORM, gold through raw SQL, as the services store them on
SQLite in two shapes). Run on an empty database with fresh ids, it gives the
same rows on both. ``export_files`` runs each request of ``REQUESTS`` in
this process and returns its data files and manifest. ``main`` runs both,
in a process of its own: in embedded mode for SQLite, in server mode on the
test database for PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

from tests.datasets.helpers import MULTI

SINGLE = {
    "multi_label": False,
    "labels": [
        {"key": "pos", "name": "Positive"},
        {"key": "neg", "name": "Negative"},
        {"key": "neu", "name": "Neutral"},
    ],
}
TEXTS = [
    "Great product, would buy again.",
    "Café 東京 👩\u200d💻 \u202bمرحبا\u202c",
    'He said "no",\nthen left.\r\nThe end.',
    "=SUM(A1:A9)",
    "Arrived broken.",
    "Works, I suppose.",
]
# Per item: the two annotators' labels, then the reviewer's decision when
# they disagree (a label, or None to exclude the item).
VOTES = [
    ("pos", "pos", None),
    ("neg", "neg", None),
    ("pos", "neg", "neg"),
    ("neu", "pos", None),
    ("neu", "neu", None),
    ("pos", "neu", "pos"),
]
MULTI_VOTES = [["spam", "toxic"], ["off-topic"], [], ["toxic"]]
# Times with microseconds, trailing zeros and none at all: PostgreSQL's JSON
# drops the zeros, and the SQLite export must too.
TIMES = [
    datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
    datetime(2026, 1, 3, 0, 0, 0, 5, tzinfo=UTC),
    datetime(2026, 2, 1, 12, 30, 0, 999999, tzinfo=UTC),
]
REQUESTS = {
    "jsonl": ("single", {"format": "jsonl"}),
    "jsonl-provenance": ("single", {"format": "jsonl", "options": {"provenance": True}}),
    "jsonl-adjudicated-neg": (
        "single",
        {"format": "jsonl", "filters": {"labels": ["neg"], "source": ["adjudicated"]}},
    ),
    "csv": ("single", {"format": "csv", "options": {"provenance": True}}),
    "csv-decided-in-january": (
        "single",
        {
            "format": "csv",
            "filters": {
                "decided_from": "2026-01-02T03:04:05.12Z",
                "decided_to": "2026-01-03T00:00:00.000005Z",
            },
        },
    ),
    "parquet": ("single", {"format": "parquet", "options": {"provenance": True}}),
    "parquet-with-excluded": (
        "single",
        {"format": "parquet", "filters": {"include_excluded": True, "min_guideline_version": 1}},
    ),
    "raw": (
        "single",
        {"format": "raw", "options": {"provenance": True}, "filters": {"include_excluded": True}},
    ),
    "multi-jsonl": ("multi", {"format": "jsonl", "options": {"provenance": True}}),
    "multi-spam-or-off-topic": (
        "multi",
        {"format": "csv", "filters": {"labels": ["spam", "off-topic"]}},
    ),
}


def _annotate(project, item, pairs) -> None:
    from django.db import transaction
    from django.utils import timezone

    from annotation.queue.claim import take
    from annotation.queue.submit import annotation_submit

    for user, value in pairs:
        with transaction.atomic():
            assignment = take(project, user, item.pk, timezone.now())
        annotation_submit(assignment=assignment, user=user, value=value)


def _project(lead, people, name: str, config: dict, texts: list[str]):
    from items.models import Item
    from items.services import ItemRow, items_create
    from projects import services

    project = services.project_create(
        user=lead, name=name, task_type="classification", config=config, audit_sample=0
    )
    for person, roles in people:
        services.membership_set(project=project, user=person, roles=roles)
    rows = [
        ItemRow(
            {"text": text},
            external_id=f"{name[:1]}-{n}" if n % 3 else None,
            meta={"source": "forum", "n": n + 0.5, "nested": {"b": [1, 2.0], "a": "ü"}},
        )
        for n, text in enumerate(texts)
    ]
    items_create(project=project, rows=rows, config=config)
    return project, list(Item.objects.filter(project=project).order_by("pk"))


def build() -> dict:
    """Both projects with their gold; returns the users and projects."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Annotation
    from projects import services
    from review import gold as gold_service
    from review import leases
    from review.models import GoldRecord, GoldRevision

    users = get_user_model().objects
    lead = users.create_user("lead", password=None)
    one, two = (users.create_user(name, password=None) for name in ("one", "two"))
    reviewer = users.create_user("reviewer", password=None)
    people = [(one, ["annotator"]), (two, ["annotator"]), (reviewer, ["reviewer"])]
    single, items = _project(lead, people, "Reviews", SINGLE, TEXTS)
    services.guideline_publish(project=single, user=lead, body="Label the tone.")
    for item, (first, second, decision) in zip(items, VOTES, strict=True):
        _annotate(single, item, [(one, first), (two, second)])
        if first != second:
            review = leases.review_claim(project=single, user=reviewer).review
            assert review.item_id == item.pk
            ruling = {"value": decision} if decision else {"exclude": True}
            gold_service.review_resolve(review=review, user=reviewer, reason="checked, ü", **ruling)
    multi, multi_items = _project(lead, people[:2], "Flags", MULTI, TEXTS[: len(MULTI_VOTES)])
    for item, labels in zip(multi_items, MULTI_VOTES, strict=True):
        _annotate(multi, item, [(one, labels), (two, list(reversed(labels)))])
    for n, pk in enumerate(Annotation.objects.order_by("pk").values_list("pk", flat=True)):
        Annotation.objects.filter(pk=pk).update(created_at=TIMES[n % len(TIMES)])
    for n, pk in enumerate(GoldRevision.objects.order_by("pk").values_list("pk", flat=True)):
        GoldRevision.objects.filter(pk=pk).update(decided_at=TIMES[(n + 1) % len(TIMES)])
    with connection.cursor() as cursor:
        for n, pk in enumerate(GoldRecord.objects.order_by("pk").values_list("pk", flat=True)):
            cursor.execute(
                f"UPDATE {GoldRecord._meta.db_table} SET decided_at = %s WHERE id = %s",  # noqa: S608
                [TIMES[n % len(TIMES)], pk],
            )
    return {"lead": lead, "single": single, "multi": multi}


def _finished(job_id: int) -> None:
    """Wait for the job: on PostgreSQL a test worker may have taken it first."""
    from projects.models import Job

    deadline = time.monotonic() + 120
    while not Job.objects.get(pk=job_id).is_finished:
        assert time.monotonic() < deadline, f"export job {job_id} did not finish"
        time.sleep(0.1)


def export_files(made: dict) -> dict:
    """For each request: its status and, by name, each data file's text (its
    sha256 for Parquet) and the manifest's."""
    from exports import bundle, job, start, versions
    from exports.models import DatasetVersion
    from projects.jobs import run_job

    out = {}
    for name, (which, request) in REQUESTS.items():
        started = start.export_start(project=made[which], user=made["lead"], raw=request)
        run_job(started.version.job_id, job.export_run)
        _finished(started.version.job_id)
        version = DatasetVersion.objects.select_related("job").get(pk=started.version.pk)
        files = {}
        for entry in version.files:
            if entry["name"] in (bundle.DATASHEET, bundle.BUNDLE):
                continue  # the datasheet holds the export's own time
            with versions.open_version_file(version, entry["name"]) as fh:
                body = fh.read()
            files[entry["name"]] = (
                "sha256:" + hashlib.sha256(body).hexdigest()
                if name.startswith("parquet") and not entry["name"].endswith(bundle.MANIFEST)
                else body.decode()
            )
        out[name] = {
            "status": version.status,
            "error": version.job.error,
            "records": version.records,
            "sha256": version.sha256,
            "files": files,
        }
    return out


def main() -> None:
    print("RESULT " + json.dumps(export_files(build())))
