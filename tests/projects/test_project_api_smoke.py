import pytest

pytestmark = pytest.mark.django_db


def test_lead_creates_and_reads_a_project(api_for, lead):
    api = api_for(lead)
    created = api.post(
        "/api/v1/projects/",
        {
            "name": "Topics",
            "task_type": "classification",
            "config": {"labels": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["roles"] == ["lead"]
    assert body["overlap"] == 2
    assert body["consensus"] == "unanimous"
    read = api.get(f"/api/v1/projects/{body['id']}/")
    assert read.status_code == 200
    assert read.json()["config"]["labels"][0] == {"key": "a", "name": "A"}


def test_outsider_gets_404(api_for, project, outsider):
    assert api_for(outsider).get(f"/api/v1/projects/{project.pk}/").status_code == 404
