"""An archived project answers reads and refuses writes with 409 until it is
unarchived."""

from __future__ import annotations

import pytest

from tests.conftest import CLASSIFICATION_CONFIG

pytestmark = pytest.mark.django_db


@pytest.fixture
def archived(api_for, project, lead):
    from projects import services

    services.guideline_publish(project=project, user=lead, body="# v1", note="")
    response = api_for(lead).post(f"/api/v1/projects/{project.pk}/archive/")
    assert response.status_code == 200
    assert response.json()["archived"] is True
    return project


def writes(project, outsider) -> list[tuple[str, str, dict | None]]:
    base = f"/api/v1/projects/{project.pk}"
    return [
        ("patch", f"{base}/", {"name": "New name"}),
        ("post", f"{base}/config/", {"config": CLASSIFICATION_CONFIG | {"multi_label": True}}),
        ("post", f"{base}/members/", {"user": outsider.pk, "roles": ["annotator"]}),
        ("post", f"{base}/invites/", {"email": "x@example.org", "roles": ["annotator"]}),
        ("post", f"{base}/guidelines/", {"body": "# v2", "note": ""}),
        ("put", f"{base}/guidelines/draft/", {"body": "draft"}),
        ("post", f"{base}/archive/", None),
    ]


def reads(project) -> list[str]:
    base = f"/api/v1/projects/{project.pk}"
    return [
        f"{base}/",
        f"{base}/config/",
        f"{base}/members/",
        f"{base}/invites/",
        f"{base}/guidelines/",
        f"{base}/guidelines/1/",
        f"{base}/guidelines/draft/",
        f"{base}/stats/",
    ]


def test_writes_are_409_while_archived(api_for, archived, lead, outsider):
    api = api_for(lead)
    for method, url, body in writes(archived, outsider):
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 409, (method, url, response.content)
        assert "archived" in response.json()["detail"]
    archived.refresh_from_db()
    assert archived.name == "Sentiment"
    assert archived.config_version == 1
    assert not archived.memberships.filter(user=outsider).exists()


def test_member_removal_is_409_while_archived(api_for, archived, lead, annotator):
    response = api_for(lead).delete(f"/api/v1/projects/{archived.pk}/members/{annotator.pk}/")
    assert response.status_code == 409
    assert archived.memberships.filter(user=annotator).exists()


def test_reads_still_work_while_archived(api_for, archived, lead):
    api = api_for(lead)
    for url in reads(archived):
        assert api.get(url).status_code == 200, url


def test_archived_project_stays_in_the_list(api_for, archived, annotator):
    [row] = api_for(annotator).get("/api/v1/projects/").json()["results"]
    assert row["archived"] is True


def test_unarchive_reopens_writes(api_for, archived, lead):
    api = api_for(lead)
    response = api.post(f"/api/v1/projects/{archived.pk}/unarchive/")
    assert response.status_code == 200
    assert response.json()["archived"] is False
    patched = api.patch(f"/api/v1/projects/{archived.pk}/", {"name": "Back"}, format="json")
    assert patched.status_code == 200


def test_annotator_cannot_unarchive(api_for, archived, annotator):
    response = api_for(annotator).post(f"/api/v1/projects/{archived.pk}/unarchive/")
    assert response.status_code == 403
    archived.refresh_from_db()
    assert archived.is_archived
