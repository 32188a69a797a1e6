from __future__ import annotations

import pytest

from annotation.models import Annotation, Assignment
from items.models import Item

pytestmark = pytest.mark.django_db


def claim(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/claim/")


def test_two_annotators_fill_an_item_and_it_is_compared(
    project, annotator, annotators, api_for, add_items
):
    add_items(project, 1)
    a, b = api_for(annotator), api_for(annotators[0])
    first, second = claim(a, project), claim(b, project)
    assert first.status_code == 200, first.content
    assert second.status_code == 200
    assert first.json()["item"]["id"] == second.json()["item"]["id"]
    third = claim(api_for(annotators[1]), project)
    assert third.status_code == 204
    assert third["Accord-Reason"] == "all-leased"
    assert int(third["Retry-After"]) >= 1
    r1 = a.post(
        f"/api/v1/assignments/{first.json()['id']}/submit/", {"value": "pos"}, format="json"
    )
    assert r1.status_code == 201, r1.content
    again = a.post(
        f"/api/v1/assignments/{first.json()['id']}/submit/", {"value": "pos"}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == r1.json()["id"]
    other = a.post(
        f"/api/v1/assignments/{first.json()['id']}/submit/", {"value": "neg"}, format="json"
    )
    assert other.status_code == 409
    r2 = b.post(
        f"/api/v1/assignments/{second.json()['id']}/submit/", {"value": "neg"}, format="json"
    )
    assert r2.status_code == 201
    item = Item.objects.get(pk=first.json()["item"]["id"])
    assert (item.state, item.outcome) == ("review", "disagreed")
    assert Annotation.objects.filter(item=item).count() == 2
    done = claim(a, project)
    assert done.status_code == 204 and done["Accord-Reason"] == "nothing-left"


def test_two_tabs_get_the_same_lease(project, annotator, api_for, add_items):
    add_items(project, 3)
    a = api_for(annotator)
    one, two = claim(a, project), claim(a, project)
    assert one.json()["id"] == two.json()["id"]
    assert two.json()["resumed"] is True
    assert Assignment.objects.filter(annotator=annotator, state="active").count() == 1
