"""The queue's payloads are rendered by the serializers that document them
(annotation/api.py renders each in one step for speed): every key a
response carries is a declared field, and every declared field is there."""

from __future__ import annotations

import pytest

from annotation.api import AnnotationOutput, AssignmentOutput, ItemBrief, SubmitAndNextOutput

from .helpers import claim, submit

pytestmark = pytest.mark.django_db


def _declared(serializer) -> set[str]:
    return set(serializer.fields)


def test_a_claim_and_a_submit_answer_exactly_their_declared_fields(
    project, annotator, api_for, add_items
):
    add_items(project, 3)
    a = api_for(annotator)
    claimed = claim(a, project).json()
    assert set(claimed) == _declared(AssignmentOutput())
    assert set(claimed["item"]) == _declared(ItemBrief())
    assert claimed["preannotation"] is None

    submitted = submit(a, claimed["id"], "pos").json()
    assert set(submitted) == _declared(AnnotationOutput())
    assert submitted["frozen"] is False

    following = submit(a, claim(a, project).json()["id"], "neg", next=True).json()
    assert set(following) == _declared(SubmitAndNextOutput())
    # Outside a claim, "resumed" (optional) is left out.
    assert set(following["next"]) == _declared(AssignmentOutput())
    detail = a.get(f"/api/v1/assignments/{following['next']['id']}/").json()
    assert set(detail) == _declared(AssignmentOutput()) - {"resumed"}
