"""Claim and skip are throttled per user, so nobody pages through the data
set by skipping or hammers the claim: past the limit they answer 429 with
Retry-After and change nothing (DESIGN.md, "The queue"; settings.ACCORD_RATES)."""

from __future__ import annotations

import pytest

from annotation.models import Assignment

from .helpers import claim, skip, together

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(settings):
    settings.ACCORD_RATES = {"claim": (3, 60), "skip": (2, 120)}


def test_claims_past_the_limit_are_429_with_retry_after(
    tight, project, annotator, annotators, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    assert [claim(a, project).status_code for _ in range(3)] == [200, 200, 200]

    refused = claim(a, project)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert isinstance(refused.json()["detail"], str)
    # Per user: someone else still claims.
    assert claim(api_for(annotators[0]), project).status_code == 200


def test_skips_past_the_limit_are_429_and_the_lease_stays(
    settings, project, annotator, api_for, add_items
):
    settings.ACCORD_RATES = {"claim": (100, 60), "skip": (2, 120)}
    add_items(project, 4)
    a = api_for(annotator)
    for _ in range(2):
        assert skip(a, claim(a, project).json()["id"]).status_code == 200
    lease = claim(a, project).json()

    refused = skip(a, lease["id"])

    assert refused.status_code == 429
    assert refused["Retry-After"] == "120"
    assert Assignment.objects.get(pk=lease["id"]).state == "active"
    assert Assignment.objects.filter(annotator=annotator, state="skipped").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_claims_at_once_lets_only_the_limit_through(
    tight, project, annotator, api_for, add_items
):
    add_items(project, 2)
    tabs = [api_for(annotator) for _ in range(8)]
    answers = together(*[lambda t=t: claim(t, project) for t in tabs])
    assert sorted(a.status_code for a in answers) == [200] * 3 + [429] * 5


def test_a_window_starts_at_its_first_event_and_always_ends():
    from django.core.cache import cache, caches

    from accord.ratelimit import hit

    redis = caches["default"]._cache.get_client(write=True)
    key = "accord:rate:test:window"
    assert [hit(key, 60) for _ in range(3)] == [1, 2, 3]
    assert 0 < redis.ttl(cache.make_and_validate_key(key)) <= 60
    # A count left without an expiry (as counting in two steps could leave
    # one, when the key expired between them) gets one at its next event.
    cache.set(key, 7, timeout=None)
    assert hit(key, 60) == 8
    assert 0 < redis.ttl(cache.make_and_validate_key(key)) <= 60
