"""Fixtures for the security suite: a fast password hasher and a "world" with
one project in every state the route matrix needs, plus a second project led
by the outsider (a user of ANOTHER project, SECURITY.md A1/A4)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from annotation.queue.claim import assignment_claim, take
from annotation.queue.submit import annotation_submit
from items.models import Item
from projects import services
from projects.jobs import job_create

# PBKDF2 at Django's default cost takes ~0.5 s per user on the 2-core box;
# the hasher is not what these tests are about.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, media_root):
    # Imports store their file before the job runs: keep them out of the
    # tree. One folder per module, so the files of the module's shared
    # world's export are still there for every test that downloads them.
    settings.MEDIA_ROOT = media_root


@dataclass
class World:
    project: object
    other_project: object
    users: dict[str, object]
    invite: object
    invite_token: str
    extra: dict = field(default_factory=dict)

    def user(self, role: str):
        return self.users.get(role)


def build_world(*, lead, annotator, reviewer, outsider, newcomer) -> World:
    """The fixture project (lead; annotator and reviewer as members), two
    guideline versions, an item, a job, an open invite, and another project
    led by the outsider."""
    from tests.conftest import CLASSIFICATION_CONFIG

    project = services.project_create(
        user=lead, name="Sentiment", task_type="classification", config=CLASSIFICATION_CONFIG
    )
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    other = services.project_create(
        user=outsider,
        name="Someone else's project",
        task_type="classification",
        config=CLASSIFICATION_CONFIG,
    )
    services.guideline_publish(project=project, user=lead, body="# Rules\n\nBe kind.", note="v1")
    services.guideline_publish(
        project=project, user=lead, body="# Rules\n\nBe kind and brief.", note="v2"
    )
    item = Item.objects.create(
        project=project,
        data={"text": "an item"},
        content_hash=hashlib.sha256(b"an item").hexdigest(),
    )
    # The annotator's work in the queue: a submitted annotation on one item
    # and a live lease on another (both sort before "an item").
    for text in ("queued one", "queued two"):
        Item.objects.create(
            project=project,
            data={"text": text},
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
            rank=-1.0,
        )
    first = assignment_claim(project=project, user=annotator).assignment
    annotation = annotation_submit(assignment=first, user=annotator, value="pos").annotation
    lease = assignment_claim(project=project, user=annotator).assignment
    review, gold = _review_world(project, reviewer)
    export = _export_world(project, lead)
    job = job_create(project=project, kind="import", user=lead)
    token, invite = services.invite_create(
        project=project, email="invitee@example.org", roles=["annotator"], user=lead
    )
    return World(
        project=project,
        other_project=other,
        users={"lead": lead, "annotator": annotator, "reviewer": reviewer, "outsider": outsider},
        invite=invite,
        invite_token=token,
        extra={
            "newcomer": newcomer,
            "item": item,
            "job": job,
            "assignment": lease,
            "annotation": annotation,
            "review": review,
            "gold": gold,
            "export": export,
        },
    )


def _review_world(project, reviewer):
    """Two items two other annotators disagreed on: the reviewer settled one
    (adjudicated gold) and holds the other (a live review)."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from review import gold as gold_service
    from review import leases

    people = [
        get_user_model().objects.create_user(username=f"matrix-annotator-{n}") for n in (1, 2)
    ]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    for text in ("disputed one", "disputed two"):
        item = Item.objects.create(
            project=project, data={"text": text},
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
        )  # fmt: skip
        for person, value in zip(people, ("pos", "neg"), strict=True):
            with transaction.atomic():
                taken = take(project, person, item.pk, timezone.now())
            annotation_submit(assignment=taken, user=person, value=value)
    first = leases.review_claim(project=project, user=reviewer).review
    gold, _ = gold_service.review_resolve(
        review=first, user=reviewer, value="neg", reason="irony", reason_code="annotator_slip"
    )
    return leases.review_claim(project=project, user=reviewer).review, gold


def _export_world(project, lead):
    """A succeeded dataset version of the project's gold (the adjudicated
    record), written by the export job run here, in this transaction."""
    from exports import job, start
    from projects.jobs import run_job

    version = start.export_start(project=project, user=lead, raw={"format": "jsonl"}).version
    run_job(version.job_id, job.export_run)
    version.refresh_from_db()
    assert version.succeeded_at is not None, version.job.error
    return version


@pytest.fixture
def world(lead, annotator, reviewer, outsider, make_user) -> World:
    return build_world(
        lead=lead,
        annotator=annotator,
        reviewer=reviewer,
        outsider=outsider,
        newcomer=make_user("newcomer"),
    )


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker, media_root):
    """``world``, built once per module inside a transaction that is rolled
    back at the end. Each test still runs in its own savepoint (the ``db``
    fixture), so what one request writes is gone before the next test: the
    route matrix makes ~450 requests and would otherwise rebuild the world
    ~450 times."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import override_settings

    from tests.conftest import PASSWORD

    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=FAST_HASHERS, MEDIA_ROOT=media_root),
    ):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            users = {
                name: get_user_model().objects.create_user(
                    username=name, password=PASSWORD, email=f"{name}@example.org"
                )
                for name in ("lead", "annotator", "reviewer", "outsider", "newcomer")
            }
            yield build_world(**users)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
