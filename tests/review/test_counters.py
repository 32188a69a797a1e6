"""Review keeps the counters right in its own transactions: items by state
and gold by source equal a recount after every kind of decision."""

from __future__ import annotations

import pytest

from annotation.reconcile import counter_reconciled, counters_expected, counters_reconcile
from projects import services
from projects.counters import counters_for
from review.models import GoldRecord

from .helpers import adjudicate, blind, claim, resolve

pytestmark = pytest.mark.django_db


def stored(project) -> dict[str, int]:
    return {
        k: v
        for k, v in counters_for([project.pk])[project.pk].items()
        if counter_reconciled(k) and v
    }


def recount(project) -> dict[str, int]:
    return {k: v for k, v in counters_expected(project).items() if v}


def test_counters_follow_every_decision(
    project, lead, reviewer, reviewer2, agreement, disagreement, api_for
):
    client = api_for(reviewer)
    agreement(project, text="agreed one")
    disagreement(project, text="to accept")
    disagreement(project, text="to exclude")
    body = claim(client, project).json()
    resolve(client, body["id"], annotation=body["annotations"][0]["id"], reason="first one")
    body = claim(client, project).json()
    resolve(client, body["id"], exclude=True, reason="broken")
    services.project_update(
        project=project, user=lead, audit_sample=1, review_policy="disagreements"
    )
    project.refresh_from_db()
    agreement(project, text="audited")
    body = claim(client, project).json()
    blind(client, body["id"], "pos")
    resolve(client, body["id"], value="pos")
    consensus = GoldRecord.objects.get(item__data__text="agreed one")
    adjudicate(api_for(reviewer2), consensus.pk, exclude=True, reason="duplicate", revision=1)
    services.project_update(project=project, user=lead, review_policy="none")
    project.refresh_from_db()
    disagreement(project, text="unreviewed")
    services.project_update(project=project, user=lead, review_policy="all")
    assert stored(project) == recount(project)
    counts = stored(project)
    assert counts["gold:adjudicated"] == 1 and counts["gold:audit-confirmed"] == 1
    assert "gold:consensus" not in counts
    assert counts["items:excluded"] == 2 and counts["items:review"] == 1
    assert counters_reconcile(project) == {}
