"""An invite link is single-use even when it is posted many times at once
(SECURITY.md D3)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from projects import services
from projects.models import Membership
from tests.conftest import CLASSIFICATION_CONFIG, PASSWORD

PARALLEL = 12
NEW_PASSWORD = "a brand new passphrase 91"


@pytest.mark.django_db(transaction=True)
def test_parallel_accepts_create_exactly_one_user():
    User = get_user_model()
    lead = User.objects.create_user(username="lead", password=PASSWORD)
    project = services.project_create(
        user=lead, name="P", task_type="classification", config=CLASSIFICATION_CONFIG
    )
    token, _ = services.invite_create(
        project=project, email="new@example.org", roles=["annotator"], user=lead
    )
    barrier = threading.Barrier(PARALLEL, timeout=60)

    def accept(i):
        try:
            client = Client()
            barrier.wait()
            response = client.post(
                f"/accounts/invite/{token}/",
                {"username": f"taker{i}", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
            )
            return response.status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        statuses = list(pool.map(accept, range(PARALLEL)))

    assert sorted(statuses) == [302] + [404] * (PARALLEL - 1)
    takers = User.objects.filter(username__startswith="taker")
    assert takers.count() == 1
    assert Membership.objects.filter(project=project).count() == 2
