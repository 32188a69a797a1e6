"""Submit may ask for the next item in the same round trip: ``{"value": …,
"next": true}`` answers with the annotation and ``next``: the caller's next
assignment, or null with ``next_reason`` (the claim's 204 reasons, or why
the claim was refused) and ``retry_after`` (issue 18, item 2)."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Assignment

from .helpers import claim, submit

pytestmark = pytest.mark.django_db


def test_submit_with_next_answers_the_annotation_and_the_next_assignment(
    project, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    first = claim(a, project).json()

    answer = submit(a, first["id"], "pos", next=True)

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["assignment"] == first["id"] and body["value"] == "pos"
    assert Annotation.objects.get(pk=body["id"]).assignment_id == first["id"]
    following = body["next"]
    assert following["id"] != first["id"] and following["state"] == "active"
    assert following["item"]["id"] != first["item"]["id"]
    assert set(following) >= {"item", "leased_until", "draft", "config_version"}
    assert following["resumed"] is False
    assert (body["next_reason"], body["retry_after"]) == (None, None)
    # It is the lease a claim now resumes: the same, not another one.
    again = claim(a, project).json()
    assert again["id"] == following["id"] and again["resumed"] is True
    assert Assignment.objects.filter(annotator=annotator, state="active").count() == 1


def test_without_next_the_answer_is_the_annotation_alone(project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    body = submit(a, claim(a, project).json()["id"], "pos").json()
    assert not {"next", "next_reason", "retry_after"} & set(body)
    body = submit(a, claim(a, project).json()["id"], "pos", next=False).json()
    assert "next" not in body


def test_a_replayed_submit_with_next_answers_the_current_lease(
    project, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    first = claim(a, project).json()
    following = submit(a, first["id"], "pos", next=True).json()["next"]
    replay = submit(a, first["id"], "pos", next=True)
    assert replay.status_code == 200
    assert replay.json()["next"]["id"] == following["id"]
    assert replay.json()["next"]["resumed"] is True


def test_nothing_left_after_the_last_item(project, annotator, api_for, add_items):
    add_items(project, 1)
    a = api_for(annotator)
    body = submit(a, claim(a, project).json()["id"], "pos", next=True).json()
    assert body["next"] is None
    assert (body["next_reason"], body["retry_after"]) == ("nothing-left", None)


def test_all_leased_says_when_to_ask_again(project, annotator, annotators, api_for, add_items):
    add_items(project, 2)
    a, b, c = (api_for(p) for p in (annotator, *annotators[:2]))
    mine = claim(a, project).json()
    # The other item is leased twice (overlap 2) to the others.
    assert claim(b, project).json()["item"]["id"] == mine["item"]["id"]
    submit(b, claim(b, project).json()["id"], "pos")
    taken = [claim(b, project).json(), claim(c, project).json()]
    assert {t["item"]["id"] for t in taken} != {mine["item"]["id"]}

    body = submit(a, mine["id"], "pos", next=True).json()

    assert body["next"] is None and body["next_reason"] == "all-leased"
    assert body["retry_after"] >= 1


def test_a_throttled_claim_still_answers_the_submit(
    settings, project, annotator, api_for, add_items
):
    settings.ACCORD_RATES = {"claim": (1, 60), "skip": (10, 60)}
    add_items(project, 3)
    a = api_for(annotator)
    first = claim(a, project).json()

    answer = submit(a, first["id"], "pos", next=True)

    assert answer.status_code == 201
    body = answer.json()
    assert Annotation.objects.filter(assignment_id=first["id"]).exists()
    assert body["next"] is None
    assert (body["next_reason"], body["retry_after"]) == ("rate-limited", 60)


@pytest.mark.parametrize("bad", ["yes", 1, None, [], {"x": 1}])
def test_next_must_be_a_boolean(bad, project, annotator, api_for, add_items):
    add_items(project, 2)
    a = api_for(annotator)
    first = claim(a, project).json()

    answer = submit(a, first["id"], "pos", next=bad)

    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"field": "next", "reason": "must be true or false"}]
    assert not Annotation.objects.filter(assignment_id=first["id"]).exists()


def test_the_schema_documents_next(api_for, annotator):
    schema = api_for(annotator).get("/api/schema/", {"format": "json"}).json()
    submit_input = schema["components"]["schemas"]["SubmitInputRequest"]["properties"]
    assert submit_input["next"]["type"] == "boolean"
    output = schema["components"]["schemas"]["SubmitAndNextOutput"]["properties"]
    assert {"next", "next_reason", "retry_after"} <= set(output)
