"""Item management: filtered list (allowlisted keys), priorities as a job,
delete what nobody worked on, archive the rest."""

from __future__ import annotations

import pytest

from annotation.models import Annotation
from items.models import Item
from items.services import ItemRow, items_create
from projects.models import ProjectCounter
from projects.services import project_config


@pytest.fixture
def items(project):
    rows = [
        ItemRow({"text": "the delivery was late"}, "d1", {"source": "mail", "lang": "en"}),
        ItemRow({"text": "great support team"}, "d2", {"source": "web", "lang": "en"}),
        ItemRow({"text": "livraison en retard"}, "d3", {"source": "web", "lang": "fr"}),
    ]
    items_create(project=project, rows=rows, config=project_config(project).config)
    return {i.external_id: i for i in Item.objects.filter(project=project)}


def results(answer) -> list[str]:
    assert answer.status_code == 200, answer.content
    return [row["external_id"] for row in answer.json()["results"]]


@pytest.mark.django_db
def test_filters(api_for, lead, project, items):
    api = api_for(lead)
    url = f"/api/v1/projects/{project.pk}/items/"
    assert results(api.get(url)) == ["d1", "d2", "d3"]
    assert results(api.get(url, {"q": "DELIVERY"})) == ["d1"]
    assert results(api.get(url, {"meta.source": "web"})) == ["d2", "d3"]
    assert results(api.get(url, {"meta.source": "web", "meta.lang": "fr"})) == ["d3"]
    assert results(api.get(url, {"external_id": "d2"})) == ["d2"]
    assert results(api.get(url, {"state": "open", "page_size": 2})) == ["d1", "d2"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key",
    [
        "created_by__password",
        "project__memberships__user__password",
        "data__text",
        "_connector",
        "meta.a__b",
        "meta.",
        "meta._x",
    ],
)
def test_filter_keys_outside_the_allowlist_are_400(api_for, lead, project, items, key):
    # SECURITY.md A2, B6: no query-string key reaches the ORM as a lookup path.
    answer = api_for(lead).get(f"/api/v1/projects/{project.pk}/items/", {key: "x"})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == key


@pytest.mark.django_db
def test_a_metadata_field_named_like_a_lookup_is_just_a_key(api_for, lead, project, items):
    url = f"/api/v1/projects/{project.pk}/items/"
    assert results(api_for(lead).get(url, {"meta.contains": "x", "meta.isnull": "true"})) == []


@pytest.mark.django_db
def test_bad_state_value(api_for, lead, project, items):
    answer = api_for(lead).get(f"/api/v1/projects/{project.pk}/items/", {"state": "done"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "state"


@pytest.mark.django_db
def test_items_are_for_leads_only(api_for, annotator, reviewer, outsider, project, items):
    url = f"/api/v1/projects/{project.pk}/items/"
    assert api_for(annotator).get(url).status_code == 403
    assert api_for(reviewer).get(url).status_code == 403
    assert api_for(outsider).get(url).status_code == 404
    assert api_for(outsider).get(f"{url}{items['d1'].pk}/").status_code == 404


@pytest.mark.django_db
def test_delete_only_what_nobody_worked_on(api_for, lead, annotator, project, items):
    api = api_for(lead)
    Annotation.objects.create(
        project=project, item=items["d2"], annotator=annotator, value="pos", config_version=1
    )
    refused = api.post(
        f"/api/v1/projects/{project.pk}/items/delete/",
        {"ids": [items["d1"].pk, items["d2"].pk]},
        format="json",
    )
    assert refused.status_code == 409 and refused.json()["items"] == [items["d2"].pk]
    assert Item.objects.filter(project=project).count() == 3  # all or nothing
    assert api.delete(f"/api/v1/projects/{project.pk}/items/{items['d1'].pk}/").status_code == 204
    archived = api.post(
        f"/api/v1/projects/{project.pk}/items/archive/", {"ids": [items["d2"].pk]}, format="json"
    )
    assert archived.json() == {"archived": 1}
    assert results(api.get(f"/api/v1/projects/{project.pk}/items/")) == ["d3"]
    assert results(api.get(f"/api/v1/projects/{project.pk}/items/", {"state": "archived"})) == [
        "d2"
    ]
    counters = dict(ProjectCounter.objects.filter(project=project).values_list("name", "value"))
    assert (counters["items:total"], counters["items:open"], counters["items:archived"]) == (
        2,
        1,
        1,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": []}, "ids"),
        ({"ids": ["1"]}, "ids"),
        ({"ids": [1], "force": True}, "force"),
    ],
)
def test_bad_bulk_bodies(api_for, lead, project, items, body, field):
    answer = api_for(lead).post(f"/api/v1/projects/{project.pk}/items/delete/", body, format="json")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == field


@pytest.mark.django_db(transaction=True)
def test_priorities_by_ids_filter_and_per_item(
    celery_worker, api_for, lead, project, items, wait_for_job
):
    api = api_for(lead)
    url = f"/api/v1/projects/{project.pk}/items/priority/"

    def run(body):
        answer = api.post(url, body, format="json")
        assert answer.status_code == 202, answer.content
        return wait_for_job(answer.json()["job"]["id"])

    assert run({"priority": 5, "ids": [items["d1"].pk]}).result == {"updated": 1}
    assert run({"priority": 2, "filter": {"meta.lang": "fr"}}).result == {"updated": 1}
    job = run(
        {"items": [{"external_id": "d2", "priority": 0.75}, {"id": items["d1"].pk, "priority": 9}]}
    )
    assert job.result == {"updated": 2}
    assert dict(Item.objects.filter(project=project).values_list("external_id", "priority")) == {
        "d1": 9.0,
        "d2": 0.75,
        "d3": 2.0,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priority": "high", "ids": [1]}, "priority"),
        ({"priority": 1}, None),
        ({"priority": 1, "ids": [1], "filter": {}}, None),
        ({"items": [{"id": 1}]}, "items[0]"),
        ({"priority": 1, "filter": {"password": "x"}}, "password"),
    ],
)
def test_bad_priority_requests(api_for, lead, project, items, body, field):
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/priority/", body, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == field


@pytest.mark.django_db
def test_import_command_shows_progress_and_imports(project, lead, tmp_path, capsys):
    from django.core.management import call_command

    path = tmp_path / "items.csv"
    path.write_text("id,text\nx1,first\nx2,second\n", encoding="utf-8")
    call_command("import_items", str(project.pk), str(path), "--id-column", "id", "--user", "lead")
    out = capsys.readouterr()
    assert '"created": 2' in out.out
    assert "Importing" in out.err
    assert sorted(Item.objects.filter(project=project).values_list("external_id", flat=True)) == [
        "x1",
        "x2",
    ]


@pytest.mark.django_db
def test_archive_refuses_ids_of_other_projects(
    api_for, lead, project, items, make_project, make_user
):
    other = make_project(make_user("other-lead"), name="Other")
    from items.services import items_create as create

    create(
        project=other, rows=[ItemRow({"text": "elsewhere"})], config=project_config(other).config
    )
    foreign = Item.objects.get(project=other).pk
    answer = api_for(lead).post(
        f"/api/v1/projects/{project.pk}/items/archive/",
        {"ids": [items["d1"].pk, foreign]},
        format="json",
    )
    assert answer.status_code == 400
    assert Item.objects.get(pk=foreign).state == "open"
    assert Item.objects.get(pk=items["d1"].pk).state == "open"  # all or nothing
