"""Gold changes only by a new adjudication that keeps the old one in its
history; a stale or concurrent change gets 409 with the current state and
changes nothing (SECURITY.md E2, E10)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from review.models import Feedback, GoldRecord, GoldRevision

from .helpers import adjudicate, claim, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold(project, reviewer, disagreement, api_for):
    disagreement(project)
    client = api_for(reviewer)
    body = claim(client, project).json()
    by_value = {a["value"]: a["id"] for a in body["annotations"]}
    made = resolve(client, body["id"], annotation=by_value["pos"], reason="literal")
    return made.json()["gold"]


def test_a_new_adjudication_keeps_the_old_one(gold, reviewer2, annotator, second, api_for):
    client = api_for(reviewer2)
    response = adjudicate(client, gold["id"], value="neg", reason="sarcasm after all", revision=1)
    assert response.status_code == 200, response.content
    assert response.json()["revision"] == 2 and response.json()["value"] == "neg"
    history = client.get(f"/api/v1/gold/{gold['id']}/history/").json()["history"]
    assert [(h["revision"], h["value"], h["reason"]) for h in history] == [
        (1, "pos", "literal"),
        (2, "neg", "sarcasm after all"),
    ]
    assert history[1]["reviewer"] == reviewer2.pk
    # Feedback now goes to the annotator the new decision overrules.
    assert list(Feedback.objects.values_list("annotator_id", flat=True)) == [annotator.pk]


def test_if_match_names_the_revision(gold, reviewer2, api_for):
    response = api_for(reviewer2).post(
        f"/api/v1/gold/{gold['id']}/adjudicate/",
        {"value": "neu", "reason": "neutral"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200 and response.json()["revision"] == 2


def test_a_stale_revision_gets_409_with_the_current_state(gold, reviewer, reviewer2, api_for):
    first = adjudicate(api_for(reviewer2), gold["id"], value="neg", reason="a", revision=1)
    assert first.status_code == 200
    stale = adjudicate(api_for(reviewer), gold["id"], value="neu", reason="b", revision=1)
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "stale_revision"
    assert body["gold"]["revision"] == 2 and body["gold"]["value"] == "neg"
    assert GoldRecord.objects.get(pk=gold["id"]).value == "neg"
    assert GoldRevision.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": "neg", "reason": "x"}, "revision"),
        ({"value": "neg", "reason": "x", "revision": "one"}, "revision"),
        ({"value": "maybe", "reason": "x", "revision": 1}, "value"),
        ({"value": "neg", "revision": 1}, "reason"),
    ],
)
def test_bad_adjudications_get_400(gold, reviewer2, api_for, body, field):
    response = adjudicate(api_for(reviewer2), gold["id"], **body)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
    assert GoldRevision.objects.count() == 1


def test_an_annotator_of_the_item_cannot_adjudicate_it(gold, project, annotator, api_for):
    from projects import services

    services.membership_set(project=project, user=annotator, roles=["annotator", "reviewer"])
    response = adjudicate(api_for(annotator), gold["id"], value="neg", reason="mine", revision=1)
    assert response.status_code == 403
    assert GoldRevision.objects.count() == 1


def test_consensus_gold_can_be_adjudicated_too(project, agreement, reviewer, api_for):
    item = agreement(project)
    gold = GoldRecord.objects.get(item=item)
    response = adjudicate(
        api_for(reviewer), gold.pk, value="neu", reason="actually neutral", revision=1
    )
    assert response.status_code == 200
    assert response.json()["source"] == "adjudicated"
    assert [
        h["source"]
        for h in api_for(reviewer).get(f"/api/v1/gold/{gold.pk}/history/").json()["history"]
    ] == [
        "consensus",
        "adjudicated",
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_adjudications_one_wins(make_project, lead, make_user, annotate, api_for):
    from projects import services

    project = make_project(lead, name="Race")
    a, b = make_user("ra"), make_user("rb")
    for person in (a, b):
        services.membership_set(project=project, user=person, roles=["annotator"])
    item = annotate(project, (a, "pos"), (b, "pos"))
    gold = GoldRecord.objects.get(item=item)
    reviewers = [make_user(f"rev{i}") for i in range(6)]
    for person in reviewers:
        services.membership_set(project=project, user=person, roles=["reviewer"])
    clients = [api_for(p) for p in reviewers]
    values = ["neg", "neu", "neg", "neu", "neg", "neu"]
    codes: list[int] = []
    barrier = threading.Barrier(len(clients))

    def work(client, value):
        barrier.wait()
        try:
            codes.append(
                adjudicate(
                    client, gold.pk, value=value, reason=f"say {value}", revision=1
                ).status_code
            )
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=pair) for pair in zip(clients, values, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [409] * 5
    assert GoldRevision.objects.filter(gold=gold).count() == 2
    gold.refresh_from_db()
    assert gold.revision == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_resolves_of_one_review_store_one_decision(
    make_project, lead, make_user, annotate, api_for
):
    """Five replays of one resolve at once (a double click, a retry): one
    gold record, one revision, and every answer is 201 or 200."""
    from projects import services

    project = make_project(lead, name="Replay")
    a, b, r = make_user("pa"), make_user("pb"), make_user("pr")
    for person in (a, b):
        services.membership_set(project=project, user=person, roles=["annotator"])
    services.membership_set(project=project, user=r, roles=["reviewer"])
    annotate(project, (a, "pos"), (b, "neg"))
    client = api_for(r)
    body = claim(client, project).json()
    codes: list[int] = []
    barrier = threading.Barrier(5)

    def work():
        barrier.wait()
        try:
            codes.append(resolve(api_for(r), body["id"], value="neu", reason="neither").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 200, 200, 200, 201]
    assert GoldRecord.objects.filter(project=project).count() == 1
    assert GoldRevision.objects.filter(project=project).count() == 1
