"""Items added after annotators started reach them in every queue order,
whichever way they come in (the small-batch service here; the streamed
import in test_queue_order_and_requeue.py)."""

from __future__ import annotations

import pytest

from annotation.queue.claim import NothingLeft, assignment_claim
from annotation.queue.submit import annotation_submit
from projects import services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("order", ["import", "random", "priority"])
def test_an_item_added_later_is_offered(project, lead, annotator, add_items, order):
    services.project_update(project=project, user=lead, queue_order=order, queue_seed=3)
    project.refresh_from_db()
    add_items(project, 5, prefix="early")
    seen = set()
    for _ in range(3):
        claim = assignment_claim(project=project, user=annotator)
        annotation_submit(assignment=claim.assignment, user=annotator, value="pos")
        seen.add(claim.assignment.item_id)
    add_items(project, 20, prefix="late")
    while True:
        try:
            claim = assignment_claim(project=project, user=annotator)
        except NothingLeft as empty:
            assert empty.reason == "done"
            break
        assert claim.assignment.item_id not in seen
        seen.add(claim.assignment.item_id)
        annotation_submit(assignment=claim.assignment, user=annotator, value="pos")
    assert len(seen) == 25
