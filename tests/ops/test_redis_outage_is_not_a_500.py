"""Redis is a cache and a broker, not a reason to answer 500 (SECURITY.md F8,
G3). The cache and the broker are a private redis-server that the test
stops and starts again, while annotators submit and claim over the API and
the workspace:

* a submit whose annotation committed answers 2xx, whatever happens to the
  scheduling of the agreement report; the report is computed once Redis is
  back (the hourly refresh finds the project's data newer than its report);
* claims go through uncounted for ACCORD_RATE_FAIL_OPEN_SECONDS, then answer
  503 with Retry-After; the workspace, after a submit, shows the saved
  submit and asks again later;
* sign-in (the login throttle) answers 503 with Retry-After: it never lets a
  password guess through uncounted;
* a job started while Redis is down (an import) answers 202 and is sent by
  the recovery sweep once Redis is back.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import token_issue
from agreement.models import AgreementReport
from agreement.services import fingerprint
from agreement.tasks import refresh_reports
from annotation.models import Annotation
from items.services import ItemRow, items_create
from projects import services
from projects.jobs import jobs_recover
from projects.models import Job
from projects.services import project_config
from tests.conftest import (
    PASSWORD,
    start_redis,
    start_worker,
    stop_redis,
    stop_worker,
    use_broker,
    wait_until,
)
from tests.queue.helpers import claim, submit

pytestmark = pytest.mark.django_db(transaction=True)

FAIL_OPEN_SECONDS = 1


class PrivateRedis:
    def __init__(self, folder):
        self.folder = folder
        self.process, self.port = start_redis(folder)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_redis(self.process)

    def start(self) -> None:
        self.process, _ = start_redis(self.folder, port=self.port)


@pytest.fixture
def redis_server(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    settings.ACCORD_RATE_FAIL_OPEN_SECONDS = FAIL_OPEN_SECONDS
    previous = use_broker(server.url)
    yield server
    use_broker(previous)
    if server.process.poll() is None:
        stop_redis(server.process)


def api(user) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a 500 is an answer to look at
    key, _ = token_issue(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def web(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def team(project, annotator, make_user):
    people = [annotator, *(make_user(f"ann{i}") for i in range(3))]
    for person in people[1:]:
        services.membership_set(project=project, user=person, roles=["annotator"])
    rows = [ItemRow({"text": f"item {i}"}) for i in range(20)]
    items_create(project=project, rows=rows, config=project_config(project).config)
    return people


def test_a_redis_outage_answers_no_500(redis_server, project, lead, team, settings):
    clients = [api(person) for person in team]
    leases = []
    for client in clients:
        answer = claim(client, project)
        assert answer.status_code == 200, answer.content
        leases.append(answer.json()["id"])

    redis_server.stop()
    # Submits commit and say so: the report's scheduling fails quietly.
    for client, lease in zip(clients, leases, strict=True):
        answer = submit(client, lease, "pos")
        assert answer.status_code in (200, 201), (answer.status_code, answer.content[:300])
    assert Annotation.objects.filter(project=project).count() == len(team)
    # Claims within the fail-open window go through, uncounted.
    answer = claim(clients[0], project)
    first_failure_by = time.monotonic()  # the window opened during that claim
    assert answer.status_code == 200, answer.content
    held = answer.json()["id"]

    # Past the window: claims cannot be served, and say so with a 503.
    time.sleep(max(0.0, FAIL_OPEN_SECONDS + 0.1 - (time.monotonic() - first_failure_by)))
    refused = claim(clients[1], project)
    assert refused.status_code == 503, refused.content
    assert int(refused["Retry-After"]) > 0
    # The workspace's submit commits, then cannot claim the next item: it
    # shows the submit as saved and asks again later (200, not 503).
    page = web(team[0]).post(
        f"/projects/{project.pk}/annotate/{held}/submit/",
        {"value": "neg", "active_ms": "900"},
        HTTP_HX_REQUEST="true",
    )
    assert page.status_code == 200, page.content[:300]
    assert "cannot hand out items for a moment" in page.content.decode()
    assert Annotation.objects.filter(project=project).count() == len(team) + 1

    # Sign-in fails closed, with a 503, on the API and the page.
    token = APIClient(raise_request_exception=False).post(
        "/api/v1/auth/token/", {"username": team[1].username, "password": PASSWORD}, format="json"
    )
    assert token.status_code == 503 and int(token["Retry-After"]) > 0, token.content
    login = Client(raise_request_exception=False).post(
        "/accounts/login/", {"username": team[1].username, "password": PASSWORD}
    )
    assert login.status_code == 503 and int(login["Retry-After"]) > 0
    assert "Signing in is unavailable for a moment" in login.content.decode()

    # A job started now answers 202 and waits for its message.
    started = api(lead).post(
        f"/api/v1/projects/{project.pk}/items/", [{"text": "added in the outage"}], format="json"
    )
    assert started.status_code == 202, started.content
    job = Job.objects.get(pk=started.json()["job"]["id"])
    assert (job.status, job.sent_at) == ("queued", None)

    redis_server.start()
    # Back: claims are counted again (the first may meet a dropped
    # connection and rest a second).
    wait_until(lambda: claim(clients[1], project).status_code == 200, 10, "claims to be served")

    worker = start_worker("after-outage", REDIS_URL=redis_server.url)
    try:
        # The submits' report was never scheduled; beat's hourly refresh
        # (sent as beat sends it) finds the data newer than the last report.
        assert not AgreementReport.objects.filter(project=project).exists()
        refresh_reports.delay()
        report = wait_until(
            lambda: AgreementReport.objects.filter(project=project).first(), 60, "the report"
        )
        # The recovery sweep sends the job whose message never left.
        settings.ACCORD_JOB_STALE_SECONDS = 0.1
        Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=1))
        assert jobs_recover()["sent"] == 1
        done = wait_until(
            lambda: (j := Job.objects.get(pk=job.pk)).is_finished and j, 60, "the import job"
        )
    finally:
        stop_worker(worker)
    assert report.fingerprint == fingerprint(project)
    assert report.annotations == Annotation.objects.filter(project=project).count()
    assert done.status == "succeeded", done.error
