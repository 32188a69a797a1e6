"""The Gold tab lists every gold record (not only recent adjudications),
filtered by label, source, reviewer and decision date, paged newest first
by the record's id; the filters live in the URL. The API's gold list takes
the same filters. Bad filters answer 400 naming the field."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects import services
from review import gold_list
from review.models import GoldRecord

from .helpers import claim, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def golds(project, reviewer, reviewer2, agreement, disagreement, api_for):
    """Consensus gold (pos, neg), and adjudications by two reviewers."""
    agreement(project, text="agreed positive", value="pos")
    agreement(project, text="agreed negative", value="neg")
    decided = {}
    for who, text, value in ((reviewer, "settled neu", "neu"), (reviewer2, "settled pos", "pos")):
        disagreement(project, text=text)
        client = api_for(who)
        body = claim(client, project).json()
        decided[text] = resolve(client, body["id"], value=value, reason=f"why {value}").json()
    return decided


def _page(client, project, query: str = "", **headers):
    return client.get(f"/projects/{project.pk}/gold/{query}", **headers)


def _listed(html: str) -> list[str]:
    table = (
        html.split('id="gold-table"', 1)[1].split("</table>", 1)[0] if "gold-table" in html else ""
    )
    return [
        t
        for t in ("agreed positive", "agreed negative", "settled neu", "settled pos")
        if t in table
    ]


def test_the_gold_tab_lists_all_gold_newest_first_with_filters(
    project, golds, lead, reviewer, web_for
):
    client = web_for(lead)
    html = _page(client, project).content.decode()
    # Consensus gold too, not only reviewers' decisions; newest first.
    table = html.split('id="gold-table"', 1)[1]
    order = sorted(
        ("agreed positive", "agreed negative", "settled neu", "settled pos"), key=table.index
    )
    assert order == ["settled pos", "settled neu", "agreed negative", "agreed positive"]
    assert set(_listed(_page(client, project, "?source=consensus").content.decode())) == {
        "agreed positive",
        "agreed negative",
    }
    assert _listed(_page(client, project, "?label=pos").content.decode()) == [
        "agreed positive",
        "settled pos",
    ]
    assert _listed(_page(client, project, "?label=pos&source=adjudicated").content.decode()) == [
        "settled pos"
    ]
    assert _listed(_page(client, project, f"?reviewer={reviewer.pk}").content.decode()) == [
        "settled neu"
    ]
    tz_today = timezone.now().astimezone(ZoneInfo(project.time_zone)).date()
    day = tz_today.isoformat()
    assert (
        len(
            _listed(
                _page(client, project, f"?decided_from={day}&decided_to={day}").content.decode()
            )
        )
        == 4
    )
    yesterday = (tz_today - timedelta(days=1)).isoformat()
    empty = _page(client, project, f"?decided_to={yesterday}").content.decode()
    assert _listed(empty) == [] and 'id="gold-empty"' in empty
    # The chosen filters show in the form, so the URL is the whole state.
    html = _page(client, project, "?label=neg&source=consensus").content.decode()
    assert '<option value="neg" selected>' in html and '<option value="consensus" selected>' in html


def test_the_gold_list_pages_by_id_and_the_links_keep_the_filters(
    project, golds, lead, web_for, monkeypatch
):
    monkeypatch.setattr(gold_list, "GOLD_PAGE", 1)
    client = web_for(lead)
    seen = []
    url = f"/projects/{project.pk}/gold/?source=consensus"
    while url:
        html = client.get(url).content.decode()
        seen += _listed(html)
        nxt = html.split('id="gold-next-page" href="', 1)
        url = nxt[1].split('"', 1)[0].replace("&amp;", "&") if len(nxt) > 1 else None
        if url:
            assert "source=consensus" in url and "before=" in url
    assert seen == ["agreed negative", "agreed positive"]
    # A re-adjudication changes a record, not its place in the list.
    first = GoldRecord.objects.filter(project=project).order_by("pk").first()
    GoldRecord.objects.filter(pk=first.pk).update(decided_at=timezone.now() + timedelta(days=1))
    html = client.get(f"/projects/{project.pk}/gold/?before={first.pk + 1}").content.decode()
    assert _listed(html) == ["agreed positive"]


def test_htmx_filtering_answers_with_the_list_alone(project, golds, lead, web_for):
    response = _page(
        web_for(lead), project, "?label=neu", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gold-list"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(
        '<section class="card" aria-labelledby="gold-list-heading" id="gold-list">'
    )
    assert 'id="review-progress"' not in html and _listed(html) == ["settled neu"]


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ("?label=nope", "label", "unknown label 'nope'"),
        ("?source=guessed", "source", "unknown source 'guessed'"),
        ("?reviewer=abc", "reviewer", "must be one user id"),
        ("?decided_from=2025-13-45", "decided_from", "is not a date"),
        ("?decided_to=yesterday", "decided_to", "must be a date"),
        ("?decided_from=2025-02-01&decided_to=2025-01-01", "decided_to", "must be after"),
        ("?decided_to=9999-12-31", "decided_to", "is past the last day"),
        ("?decided_from=2025-01-01T25:00", "decided_from", "must be a date"),
        ("?before=x", "before", "must be a gold record id"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(
    project, golds, lead, web_for, api_for, query, field, reason
):
    page = _page(web_for(lead), project, query)
    assert page.status_code == 400
    assert f"{field}: {reason}" in page.content.decode().replace("&#x27;", "'")
    if field == "before":
        return
    api = api_for(lead).get(f"/api/v1/projects/{project.pk}/gold/{query}")
    assert api.status_code == 400
    assert any(e["field"] == field and reason in e["reason"] for e in api.json()["errors"])


def test_a_reviewer_of_another_project_is_not_a_filter(
    project, golds, lead, make_user, make_project, api_for
):
    stranger = make_user("stranger")
    make_project(stranger, name="Elsewhere")
    response = api_for(lead).get(f"/api/v1/projects/{project.pk}/gold/?reviewer={stranger.pk}")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "reviewer", "reason": "no such reviewer in this project"}
    ]


def test_the_api_filters_gold_the_same_way(project, golds, lead, reviewer2, api_for):
    client = api_for(lead)
    url = f"/api/v1/projects/{project.pk}/gold/"
    items = lambda body: sorted(r["value"] for r in body["results"])  # noqa: E731
    assert items(client.get(url).json()) == ["neg", "neu", "pos", "pos"]
    assert items(client.get(url + "?label=pos&label=neu").json()) == ["neu", "pos", "pos"]
    assert items(client.get(url + "?source=audit_confirmed").json()) == []
    body = client.get(url + f"?reviewer={reviewer2.pk}").json()
    assert [r["reviewer"] for r in body["results"]] == [reviewer2.pk]
    stamp = timezone.now().isoformat()
    assert items(client.get(url, {"decided_from": stamp}).json()) == []
    assert len(client.get(url, {"decided_to": stamp}).json()["results"]) == 4
    # Paged by id with the filters kept in the cursor links.
    first = client.get(url + "?label=pos&page_size=1").json()
    assert len(first["results"]) == 1 and "label=pos" in first["next"]
    second = client.get(first["next"]).json()
    assert second["results"][0]["id"] > first["results"][0]["id"] and second["next"] is None
    unknown = client.get(url + "?labels=pos")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "labels"


def test_multi_label_gold_is_found_by_any_of_its_labels(
    make_project, lead, make_user, annotate, api_for
):
    config = {
        "multi_label": True,
        "labels": [
            {"key": "spam", "name": "Spam"},
            {"key": "toxic", "name": "Toxic"},
            {"key": "ok", "name": "OK"},
        ],
    }
    project = make_project(lead, name="Multi", config=config)
    one, two = make_user("one"), make_user("two")
    for person in (one, two):
        services.membership_set(project=project, user=person, roles=["annotator"])
    annotate(project, (one, ["spam", "toxic"]), (two, ["spam", "toxic"]), text="both")
    annotate(project, (one, ["ok"]), (two, ["ok"]), text="fine")
    url = f"/api/v1/projects/{project.pk}/gold/"
    body = api_for(lead).get(url + "?label=toxic").json()
    assert [r["value"] for r in body["results"]] == [["spam", "toxic"]]
    assert len(api_for(lead).get(url + "?label=ok&label=spam").json()["results"]) == 2


def test_who_may_read_the_gold_list(project, golds, annotator, outsider, api_for, web_for):
    assert web_for(annotator).get(f"/projects/{project.pk}/gold/?label=pos").status_code == 403
    assert web_for(outsider).get(f"/projects/{project.pk}/gold/?label=pos").status_code == 404
    assert (
        api_for(annotator).get(f"/api/v1/projects/{project.pk}/gold/?label=pos").status_code == 403
    )
    assert (
        api_for(outsider).get(f"/api/v1/projects/{project.pk}/gold/?label=pos").status_code == 404
    )


def test_the_gold_list_costs_the_same_queries_for_few_and_many_records(
    project, golds, lead, agreement, web_for
):
    client = web_for(lead)
    url = f"/projects/{project.pk}/gold/?source=consensus"
    client.get(url)  # warm the session and the config cache
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(4):
        agreement(project, text=f"more agreed {n}", value="neu")
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count("more agreed") == 4
    assert len(many) == len(few)
    partial = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gold-list"}
    with CaptureQueriesContext(connection) as alone:
        assert client.get(url, **partial).status_code == 200
    # The list alone skips the figures above it.
    assert len(alone) < len(many)
