"""Blind annotation (SECURITY.md A7; DESIGN.md, "The queue"): nothing an
annotator can GET or POST in the API holds another annotator's value or the
item's outcome (agreed, disagreed). Values here are free text with
distinctive markers, searched for in the raw response bytes."""

from __future__ import annotations

from typing import Any

import pytest

import tasktypes
from projects import services
from tasktypes.base import AgreementSpec, ConfigImpact, TaskType, TaskTypeError

from .helpers import claim, draft, edit, submit, undo

pytestmark = pytest.mark.django_db

THEIR_VALUE = "ZEBRA-7731-partner-only"
MY_VALUE = "okapi-2718-mine"


class Note(TaskType):
    """A throwaway type whose value is free text, so a value can carry a
    marker that appears nowhere else (label keys are in the config)."""

    key = "note-test"
    name = "Note (test)"

    def validate_config(self, config: Any) -> dict:
        if not isinstance(config, dict):
            raise TaskTypeError([{"field": "config", "reason": "must be an object"}])
        return {}

    def config_impact(self, old: dict, new: dict) -> ConfigImpact:
        return ConfigImpact(False)

    def validate_item(self, data: Any, config: dict) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise TaskTypeError([{"field": "text", "reason": "is required"}])
        return {"text": data["text"]}

    def validate_value(self, value: Any, config: dict, item_data: dict | None = None) -> Any:
        if not isinstance(value, str) or not 0 < len(value) <= 200:
            raise TaskTypeError([{"field": "value", "reason": "must be a short text"}])
        return value

    def agreement_spec(self, config: dict) -> AgreementSpec:
        return AgreementSpec("alpha", "nominal")


@pytest.fixture
def note_project(lead, annotator, annotators):
    tasktypes.register(Note)
    project = services.project_create(user=lead, name="Notes", task_type=Note.key, config={})
    for person in (annotator, annotators[0]):
        services.membership_set(project=project, user=person, roles=["annotator"])
    from items.services import ItemRow, items_create

    items_create(
        project=project, rows=[ItemRow({"text": f"note {i}"}) for i in range(3)], config={}
    )
    yield project
    tasktypes.unregister(Note.key)


def assert_blind(responses) -> None:
    for response in responses:
        raw = response.content
        where = f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}"
        assert THEIR_VALUE.encode() not in raw, f"{where} shows the partner's value"
        assert b"agreed" not in raw, f"{where} shows the outcome"  # and "disagreed"
        assert b"outcome" not in raw, where


def test_an_annotator_never_sees_their_partners_value_or_the_outcome(
    note_project, lead, annotator, annotators, api_for
):
    project = note_project
    me, partner = api_for(annotator), api_for(annotators[0])
    seen = []
    mine = claim(me, project)
    theirs = claim(partner, project).json()
    assert theirs["item"]["id"] == mine.json()["item"]["id"]
    their_note = submit(partner, theirs["id"], THEIR_VALUE)
    assert their_note.status_code == 201
    lease = mine.json()["id"]

    # While the partner's value is stored and the item waits for mine.
    seen += [
        mine,
        claim(me, project),  # a reload
        me.get(f"/api/v1/assignments/{lease}/"),
        draft(me, lease, "a draft"),
        me.get(f"/api/v1/assignments/{lease}/revisions/"),
        me.get(f"/api/v1/projects/{project.pk}/"),
        me.get(f"/api/v1/projects/{project.pk}/stats/"),
    ]
    done = submit(me, lease, MY_VALUE)
    assert done.status_code == 201
    annotation = done.json()["id"]
    # After the item was compared (it disagreed).
    seen += [
        done,
        submit(me, lease, MY_VALUE),  # a replay
        submit(me, lease, "another value"),  # 409 names my annotation only
        me.get(f"/api/v1/annotations/{annotation}/"),
        edit(me, annotation, "too late"),
        undo(me, annotation),
        me.get(f"/api/v1/projects/{project.pk}/annotations/mine/"),
        me.get(f"/api/v1/assignments/{lease}/revisions/"),
        me.get(f"/api/v1/projects/{project.pk}/"),
        me.get(f"/api/v1/projects/{project.pk}/stats/"),
        claim(me, project),  # the next item
        me.get(f"/api/v1/annotations/{their_note.json()['id']}/"),  # 404
        me.get(f"/api/v1/projects/{project.pk}/items/{theirs['item']['id']}/revisions/"),
    ]

    assert_blind(seen)
    # The replay, the other value, the read, and the frozen edit and undo.
    assert [r.status_code for r in seen[8:13]] == [200, 409, 200, 409, 409]
    # The marker is findable: the lead, who may see everything, does see it.
    history = api_for(lead).get(
        f"/api/v1/projects/{project.pk}/items/{theirs['item']['id']}/revisions/"
    )
    assert THEIR_VALUE.encode() in history.content


def test_the_annotators_own_value_is_what_they_get_back(note_project, annotator, api_for):
    me = api_for(annotator)
    lease = claim(me, note_project).json()
    done = submit(me, lease["id"], MY_VALUE)
    listed = me.get(f"/api/v1/projects/{note_project.pk}/annotations/mine/").json()
    assert done.json()["value"] == MY_VALUE
    assert [row["value"] for row in listed["results"]] == [MY_VALUE]
