"""How the report, its API and the Agreement page read α: flagged when the
rarest category has too few values (Krippendorff's sample-size guidance),
and judged by the interval's lower bound, not the estimate."""

from __future__ import annotations

import pytest

from agreement.reports import ReportParams
from agreement.services import report_run
from annotation.models import Annotation
from bench.agreement_data import fill
from projects import services
from projects.jobs import job_create, run_job
from tests.agreement.test_agreement_page import page_url, tables

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(project, make_user):
    people = [make_user(f"pair{i}") for i in range(2)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return people


def report(project, lead, api_for, n_boot: int = 200) -> dict:
    job = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=n_boot).as_dict()
    )
    run_job(job.pk, report_run)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    answer = api_for(lead).get(f"/api/v1/projects/{project.pk}/agreement/")
    assert answer.status_code == 200
    return answer.json()["report"]["result"]


def test_one_agreed_positive_among_a_thousand_items_is_flagged(
    project, lead, pair, annotate, api_for, web_for
):
    fill(project, [p.pk for p in pair], 999, ["neg"], single=0)
    annotate(project, (pair[0], "pos"), (pair[1], "pos"), text="the one positive")
    result = report(project, lead, api_for)

    head = result["headline"]
    assert head["value"] == 1.0 and head["n"] == 1000
    assert head["small"] is True
    scarce = head["scarce"]
    assert (scarce["category"], scarce["values"], scarce["total"]) == ("Positive", 2, 2000)
    assert scarce["values_needed"] == 27 and scarce["units_needed"] == 13_404
    said = (
        "only 2 of 2,000 values are 'Positive': at least 27 are needed to tell α ≥ .800 "
        "at p = .05 (13,404 items at that share)"
    )
    assert scarce["text"] == said
    assert said in head["reading"] and not head["reading"].startswith("reliable")

    labels = {row["label"]: row for row in result["per_label"]}
    assert labels["pos"]["small"] is True
    assert labels["pos"]["scarce"]["category"] == "Positive"
    assert labels["neg"]["scarce"]["category"] == "not Negative"
    assert "only 2 of 2,000 values are 'Positive'" in labels["pos"]["reading"]
    assert labels["neu"]["value"] is None  # never chosen: undefined, not flagged
    assert "scarce" not in labels["neu"]

    html = web_for(lead).get(page_url(project)).content.decode()
    assert f"<strong>Flagged:</strong> {said}." in html.replace("&#x27;", "'")
    rows = {row[0]: row for row in tables(html)["per-label"][1:]}
    assert "small n" in rows["Positive"][3]
    assert "only 2 of 2,000 values are &#x27;Positive&#x27;" in html


# 100 items, two annotators: 90 agreements and 10 disagreements over three
# labels. α = .850; the 95% interval's lower bound is about .76.
PAIRS = (
    [("pos", "pos")] * 32 + [("neg", "neg")] * 32 + [("neu", "neu")] * 26
    + [("pos", "neg")] * 4 + [("neg", "neu")] * 3 + [("pos", "neu")] * 3
)  # fmt: skip


def test_an_estimate_above_800_with_a_lower_bound_below_is_not_reliable(
    project, lead, pair, api_for, web_for
):
    fill(project, [p.pk for p in pair], len(PAIRS), ["neg"], single=0)
    annotations = list(Annotation.objects.filter(project=project).order_by("item_id", "id"))
    for n, annotation in enumerate(annotations):
        annotation.value = PAIRS[n // 2][n % 2]
    Annotation.objects.bulk_update(annotations, ["value"])
    result = report(project, lead, api_for, n_boot=1000)

    head = result["headline"]
    assert head["value"] == pytest.approx(0.8501167432401898, abs=1e-9)
    assert head["value"] >= 0.8 > head["low"] >= 0.667
    assert "scarce" not in head and head["small"] is False
    assert head["reading"].startswith("tentative")
    low, value = (f"{head[k]:.3f}".removeprefix("0") for k in ("low", "value"))
    assert (
        f"judged by the lower bound of the 95% interval, {low}, α being {value}"
        in (head["reading"])
    )

    html = web_for(lead).get(page_url(project)).content.decode()
    assert "<strong>Reading:</strong> tentative" in html
    assert "judged by the lower bound of its interval" in html
