"""The Export tab: who sees it, starting an export from the form (bad
fields get 400 beside the field and store nothing), a running version's
card polls itself, and comparing two versions."""

from __future__ import annotations

import pytest

from exports.models import DatasetVersion
from projects.models import Job
from tests.datasets.exporting import export_now

pytestmark = pytest.mark.django_db

FORM = {"format": "jsonl", "split_train": "0.8", "split_validation": "0.1", "split_test": "0.1"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def golden(gold, project, n: int = 10) -> None:
    """Enough gold that each of 0.8/0.1/0.1 gets an item (one item alone
    would leave validation and test empty, which an export refuses)."""
    for k in range(n):
        gold(project, f"item {k}", "pos")


def url(project, tail: str = "") -> str:
    return f"/projects/{project.pk}/exports/{tail}"


def test_who_sees_the_tab(project, lead, annotator, reviewer, outsider, web_for):
    page = web_for(lead).get(url(project))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="export-form"' in html and 'id="no-versions"' in html
    assert 'id="tab-exports"' in html
    for who in (annotator, reviewer):
        assert web_for(who).get(url(project)).status_code == 403
        assert (
            'id="tab-exports"' not in web_for(who).get(f"/projects/{project.pk}/").content.decode()
        )
    assert web_for(outsider).get(url(project)).status_code == 404
    assert web_for().get(url(project)).status_code == 302


def test_starting_an_export_from_the_form(project, lead, gold, web_for):
    golden(gold, project)
    client = web_for(lead)
    response = client.post(url(project, "new/"), FORM)
    assert response.status_code == 302
    (version,) = DatasetVersion.objects.filter(project=project)
    assert version.params["splits"] == {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert version.job.status == "queued"
    again = client.post(url(project, "new/"), FORM, follow=True)
    assert "already exists" in again.content.decode()
    assert DatasetVersion.objects.filter(project=project).count() == 1
    assert Job.objects.filter(project=project, kind="export").count() == 1


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"split_train": "0.8", "split_validation": "0.3"}, "id_split_train"),
        ({"split_train": "lots"}, "id_split_train"),
        ({"group_by": "no_such_field"}, "id_group_by"),
        ({"format": "pdf"}, "id_format"),
        ({"decided_from": "2026-02-01T00:00", "decided_to": "2026-01-01T00:00"}, "id_decided_to"),
    ],
)
def test_bad_fields_are_refused_beside_the_field(project, lead, gold, web_for, form, field):
    gold(project, "one", "pos")
    response = web_for(lead).post(url(project, "new/"), {**FORM, **form})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"{field}_error" in html or f'aria-describedby="{field}' in html or "errorlist" in html
    assert not DatasetVersion.objects.exists()


def test_a_running_version_polls_and_a_finished_one_stops(project, lead, gold, web_for):
    golden(gold, project)
    client = web_for(lead)
    client.post(url(project, "new/"), FORM)
    version = DatasetVersion.objects.get()
    card = client.get(url(project, f"{version.pk}/"), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in card and "<progress" in card
    from exports import job
    from projects.jobs import run_job

    run_job(version.job_id, job.export_run)
    card = client.get(url(project, f"{version.pk}/"), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in card.split('id="compare-card"')[0]
    assert "<strong>10</strong> records" in card and 'hx-swap-oob="true"' in card


def test_versions_download_links_and_compare(project, lead, gold, web_for):
    for n in range(4):
        gold(project, f"item {n}", "pos" if n % 2 else "neg")
    first = export_now(project, lead, splits={"train": 0.5, "test": 0.5})
    gold(project, "item 4", "neu")
    second = export_now(project, lead, splits={"train": 0.5, "test": 0.5})
    client = web_for(lead)
    html = client.get(url(project)).content.decode()
    assert f"/api/v1/exports/{first.pk}/download/" in html
    assert f"/api/v1/exports/{second.pk}/download/?split=train" in html
    compared = client.get(url(project, f"compare/?a={first.pk}&b={second.pk}")).content.decode()
    assert 'id="compare-added">1<' in compared and 'id="compare-removed">0<' in compared
    assert 'id="compare-moved">0<' in compared
    bad = client.get(url(project, "compare/?a=x&b=1"))
    assert bad.status_code == 400
