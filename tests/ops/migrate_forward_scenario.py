"""A database made by the migrations of the code before the restructure of
issue 19 (models in annotation/ and review/), holding data, then migrated
forward: run in a subprocess (``manage.py shell -c``) against its own
database, so the migration executor owns the connection.

``before()`` migrates to the last migrations that code had and writes a
project's worth of rows through the historical models; ``after()`` migrates
to the newest, reads the same rows through today's models and has an
annotator claim and submit the open item through the API."""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

# The leaf migrations of Accord's apps before the restructure. Items lived in
# annotation, agreement reports in review; the items and agreement apps did
# not exist.
BEFORE = {
    "accounts": "0001_initial",
    "projects": "0008_add_job_task",
    "annotation": "0010_add_item_text_search",
    "review": "0002_add_agreement_report",
    "datasets": "0003_move_item_splits",
}
NEW_APPS = {"items", "agreement"}
CONFIG = {"labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}]}


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def _targets_before(executor: MigrationExecutor) -> list[tuple[str, str]]:
    ours = set(BEFORE) | NEW_APPS
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in ours]
    return others + list(BEFORE.items())


def before() -> None:
    executor = MigrationExecutor(connection)
    targets = _targets_before(executor)
    executor = _migrate(targets)
    apps = executor.loader.project_state(targets).apps
    model = apps.get_model
    now = timezone.now()
    User = model("accounts", "User")
    lead = User.objects.create(username="lead", is_active=True)
    ann = [User.objects.create(username=f"ann{i}", is_active=True) for i in (1, 2, 3)]
    project = model("projects", "Project").objects.create(
        name="Before", task_type="classification", created_by=lead
    )
    model("projects", "ConfigVersion").objects.create(
        project=project, number=1, task_type="classification", config=CONFIG, author=lead
    )
    Membership = model("projects", "Membership")
    Membership.objects.create(project=project, user=lead, is_lead=True, is_reviewer=True)
    for user in ann:
        Membership.objects.create(project=project, user=user, is_annotator=True)
    Item = model("annotation", "Item")
    items = [
        Item.objects.create(
            project=project,
            external_id=f"x{n}",
            data={"text": f"text {n}"},
            content_hash=f"{n:064x}",
            state=state,
            outcome=outcome,
            free_slots=slots,
        )
        for n, state, outcome, slots in [
            (1, "gold", "agreed", 0),
            (2, "review", "disagreed", 0),
            (3, "open", "", 2),
        ]
    ]
    Assignment, Annotation = model("annotation", "Assignment"), model("annotation", "Annotation")
    annotations = {}
    for item, values in [(items[0], ["pos", "pos"]), (items[1], ["pos", "neg"])]:
        for slot, (user, value) in enumerate(zip(ann, values, strict=False), start=1):
            assignment = Assignment.objects.create(
                project=project,
                item=item,
                annotator=user,
                state="submitted",
                slot=slot,
                leased_at=now,
                expires_at=now + timedelta(hours=1),
                config_version=1,
                finished_at=now,
            )
            annotations[(item.pk, slot)] = Annotation.objects.create(
                project=project,
                item=item,
                annotator=user,
                assignment=assignment,
                value=value,
                config_version=1,
            )
    model("review", "GoldRecord").objects.create(
        project=project,
        item=items[0],
        value="pos",
        source="consensus",
        annotation_ids=[annotations[(items[0].pk, 1)].pk, annotations[(items[0].pk, 2)].pk],
        config_version=1,
        decided_at=now,
    )
    model("review", "Review").objects.create(
        project=project,
        item=items[1],
        reviewer=lead,
        kind="disagreement",
        state="active",
        leased_at=now,
        expires_at=now + timedelta(hours=1),
        config_version=1,
    )
    Job = model("projects", "Job")
    report_job = Job.objects.create(
        project=project, kind="agreement", status="running", task="review.tasks.agreement_report"
    )
    model("review", "AgreementReport").objects.create(
        project=project,
        job=report_job,
        created_at=now,
        coefficient="krippendorff_alpha",
        value=0.5,
        annotations=4,
        items=2,
    )
    import_job = Job.objects.create(
        project=project, kind="import", status="queued", task="annotation.tasks.import_items"
    )
    version = model("datasets", "DatasetVersion").objects.create(
        project=project,
        job=None,
        format="jsonl",
        params={},
        request_key="k",
        gold_state="s",
        created_by=lead,
    )
    model("datasets", "ItemSplit").objects.create(item=items[0], split="train")
    model("annotation", "StagedUpdate").objects.create(
        job=import_job, line=1, external_id="x3", data="{}", meta="{}", content_hash="0" * 64
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "project": project.pk,
                "items": [i.pk for i in items],
                "version": version.pk,
                "annotator": ann[2].pk,
            }
        )
    )


def after(project_id: int, annotator_id: int) -> None:
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    # What ``migrate`` does next: permissions, content types, search triggers.
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)

    from django.test import Client

    from agreement.models import AgreementReport
    from annotation.models import Annotation, Assignment
    from exports.models import DatasetVersion, ItemSplit
    from items.models import Item, StagedUpdate
    from projects import access
    from projects.models import Job, Membership, Project
    from review.models import GoldRecord, Review

    project = Project.objects.get(pk=project_id)
    for membership in Membership.objects.filter(project=project).select_related("user"):
        access.sync_permissions(project=project, user=membership.user, roles=membership.roles)
    gold = GoldRecord.objects.select_related("item").get(project=project)
    found = {
        "items": sorted(Item.objects.filter(project=project).values_list("state", flat=True)),
        "annotations": Annotation.objects.filter(item__project=project).count(),
        "assignments_of_items": Assignment.objects.filter(item__in=Item.objects.all()).count(),
        "gold_item_text": gold.item.data["text"],
        "reviews": Review.objects.filter(item__state="review").count(),
        "reports": AgreementReport.objects.filter(project=project).count(),
        "versions": DatasetVersion.objects.filter(project=project).count(),
        "splits": ItemSplit.objects.filter(item__project=project).count(),
        "staged_updates": StagedUpdate.objects.count(),
        "job_tasks": sorted(Job.objects.values_list("task", flat=True)),
    }
    client = Client()
    client.force_login(project.memberships.get(user_id=annotator_id).user)
    claim = client.post(f"/api/v1/projects/{project.pk}/claim/")
    found["claim"] = claim.status_code
    assignment = claim.json() if claim.status_code == 200 else {}
    found["claimed_item_text"] = assignment.get("item", {}).get("data", {}).get("text")
    submit = client.post(
        f"/api/v1/assignments/{assignment.get('id')}/submit/",
        {"value": "neg"},
        content_type="application/json",
    )
    found["submit"] = submit.status_code
    print("RESULT " + json.dumps(found))
