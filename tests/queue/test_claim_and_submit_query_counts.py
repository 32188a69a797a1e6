"""The queue's hot path costs a fixed number of queries, whatever the size of
the project: pinned here, per HTTP request (token check and access included;
in a test the transaction is a savepoint, two of the counted statements).
A change to these numbers should be a decision, not an accident."""

from __future__ import annotations

import pytest

from .helpers import claim, submit

pytestmark = pytest.mark.django_db

# The hot path reads and writes with SQL of its own and, on PostgreSQL,
# takes a lease or records a submission in one statement each (see
# annotation/queue/): every round trip costs CPU on both sides.
# token, access, membership lock, start (cursor, lease, reopened), walk, take with the cursor
CLAIM_NEW = 8
# The resumed lease is read with its item in one statement.
CLAIM_RESUMED = 8
CLAIM_NOTHING_LEFT = 9
# The access check reads the assignment, its project with the caller's
# permissions, and its item in one statement; the submit locks membership,
# assignment and item in one.
SUBMIT = 7
SUBMIT_AND_COMPARE = 10
SUBMIT_AND_GOLD = 12  # an agreement also writes the gold record and its first revision
SUBMIT_REPLAY = 7
# Submit with "next": the submit, then the claim in the same request, which
# pays neither the token nor the access check again.
SUBMIT_AND_NEXT = 13


@pytest.fixture
def two(project, annotator, annotators, api_for, add_items):
    add_items(project, 20)
    a, b = api_for(annotator), api_for(annotators[0])
    # Warm both paths once (the config cache, the token's first use).
    for client in (a, b):
        submit(client, claim(client, project).json()["id"], "pos")
    return project, a, b


@pytest.mark.parametrize("size", [20, 200])
def test_claim_costs_the_same_at_any_size(size, two, add_items, django_assert_num_queries):
    project, a, _ = two
    add_items(project, size, prefix="more")
    with django_assert_num_queries(CLAIM_NEW):
        assert claim(a, project).status_code == 200
    with django_assert_num_queries(CLAIM_RESUMED):
        assert claim(a, project).json()["resumed"] is True


def test_a_claim_with_nothing_left(
    project, annotator, api_for, add_items, django_assert_num_queries
):
    add_items(project, 1)
    a = api_for(annotator)
    submit(a, claim(a, project).json()["id"], "pos")
    with django_assert_num_queries(CLAIM_NOTHING_LEFT):
        assert claim(a, project).status_code == 204


def test_submit(two, django_assert_num_queries):
    project, a, b = two
    mine = claim(a, project).json()
    with django_assert_num_queries(SUBMIT):
        assert submit(a, mine["id"], "pos").status_code == 201
    theirs = claim(b, project).json()
    assert theirs["item"]["id"] == mine["item"]["id"]
    with django_assert_num_queries(SUBMIT_AND_COMPARE):
        assert submit(b, theirs["id"], "neg").status_code == 201
    with django_assert_num_queries(SUBMIT_REPLAY):
        assert submit(b, theirs["id"], "neg").status_code == 200


def test_submit_that_makes_consensus_gold(two, django_assert_num_queries):
    project, a, b = two
    mine = claim(a, project).json()
    submit(a, mine["id"], "pos")
    theirs = claim(b, project).json()
    with django_assert_num_queries(SUBMIT_AND_GOLD):
        assert submit(b, theirs["id"], "pos").status_code == 201


def test_submit_with_the_next_item(two, django_assert_num_queries):
    project, a, _ = two
    mine = claim(a, project).json()
    with django_assert_num_queries(SUBMIT_AND_NEXT):
        answer = submit(a, mine["id"], "pos", next=True)
    assert answer.status_code == 201 and answer.json()["next"]["id"] != mine["id"]
