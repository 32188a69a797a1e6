"""Reports on the edges: a project with nothing pairable, one with a single
category, and multi-label work (MASI distance over label sets)."""

from __future__ import annotations

import pytest
from nltk.metrics.agreement import AnnotationTask

from agreement.coefficients import masi_distance
from agreement.reports import ReportParams
from agreement.services import latest_report, report_run
from projects import services
from projects.jobs import job_create, run_job

pytestmark = pytest.mark.django_db

MULTI = {
    "multi_label": True,
    "labels": [
        {"key": "bug", "name": "Bug"},
        {"key": "ux", "name": "UX"},
        {"key": "docs", "name": "Docs"},
    ],
}


def report(project, lead) -> dict:
    job = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=100).as_dict()
    )
    run_job(job.pk, report_run)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return latest_report(project).result


def test_nothing_pairable_is_undefined_with_a_reason(project, lead, people, submit_to):
    submit_to(people["A"], "alone", "pos")
    result = report(project, lead)
    head = result["headline"]
    assert head["value"] is None and "nothing pairable" in head["reason"]
    assert head["reading"].startswith("undefined")
    assert result["pairs"] == [] and result["n"]["single_annotation_items"] == 1


def test_a_single_category_is_undefined_not_one(project, lead, people, submit_to):
    for n in range(3):
        submit_to(people["A"], f"same {n}", "pos")
        submit_to(people["B"], f"same {n}", "pos")
    result = report(project, lead)
    assert result["headline"]["value"] is None and result["headline"]["reason"]
    assert result["percent_agreement"]["value"] == 1.0
    (pair,) = result["pairs"]
    assert pair["value"] is None and pair["agreement"] == 1.0


def test_multi_label_uses_masi(make_project, lead, make_user, annotate):
    project = make_project(lead, name="Tickets", config=MULTI)
    a, b = make_user("ml-a"), make_user("ml-b")
    for person in (a, b):
        services.membership_set(project=project, user=person, roles=["annotator"])
    pairs = [
        (["bug"], ["bug"]),
        (["bug", "ux"], ["bug"]),
        (["docs"], ["ux"]),
        (["ux", "docs"], ["ux", "docs"]),
        (["bug", "docs"], ["docs"]),
    ]
    for n, (x, y) in enumerate(pairs):
        annotate(project, (a, x), (b, y), text=f"ticket {n}")
    result = report(project, lead)
    assert result["level"] == "masi"
    # nltk's alpha with the same MASI distance over the same label sets.
    data = [
        (coder, str(n), frozenset(v))
        for n, (x, y) in enumerate(pairs)
        for coder, v in (("a", x), ("b", y))
    ]
    expected = AnnotationTask(data=data, distance=masi_distance).alpha()
    assert result["headline"]["value"] == pytest.approx(expected, abs=1e-9)
    labels = {row["label"]: row for row in result["per_label"]}
    assert set(labels) == {"bug", "ux", "docs"} and labels["bug"]["n"] == 5
    assert result["confusion"]["matrix"] == [] and "multi-label" in result["confusion"]["reason"]
