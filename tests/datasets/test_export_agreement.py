"""The datasheet's agreement is that of the exported records, computed by
the export job — not the project's latest agreement report printed as if it
were the dataset's (issue 18, item 16). The HF dataset card says so."""

from __future__ import annotations

import pytest

from agreement import services as report_jobs
from agreement.services import latest_report, report_start
from exports import job, versions
from projects.jobs import run_job
from tests.datasets.exporting import export_now

from .test_export_service import adjudicate

pytestmark = pytest.mark.django_db

# The two annotators' labels per item; the two disagreements are adjudicated.
VOTES = [
    ("pos", "pos"),
    ("pos", "pos"),
    ("neg", "neg"),
    ("neg", "neg"),
    ("pos", "neg"),
    ("neu", "neu"),
    ("neu", "pos"),
    ("pos", "pos"),
]
# α nominal over all 16 values by hand: n = 16 (pos 8, neg 5, neu 3), two
# disagreeing units give 4 off-diagonal coincidences: 1 - 15·4 / (16² - 98).
ALL_ALPHA = 1 - 15 * 4 / (256 - 98)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def voted(project, annotate, annotator, second, reviewer):
    for n, (a, b) in enumerate(VOTES):
        item = annotate(project, (annotator, a), (second, b), text=f"vote {n}")
        if a != b:
            adjudicate(project, reviewer, item, value=a, reason="checked")
    return project


def test_the_datasheet_measures_the_exported_records(voted, lead):
    # The project's own report, over all eight items.
    job = report_start(project=voted, user=lead)
    run_job(job.pk, report_jobs.report_run)
    report = latest_report(voted)
    assert report.value == pytest.approx(ALL_ALPHA, abs=1e-12)

    # The consensus records alone: the annotators agree on all six.
    version = export_now(voted, lead, filters={"source": ["consensus"]})
    sheet = version.datasheet["agreement"]
    assert sheet["computed_on"] == "the submitted annotations of this version's records"
    assert (sheet["coefficient"], sheet["level"]) == ("alpha", "nominal")
    assert sheet["value"] == 1.0 and sheet["value"] != report.value
    assert (sheet["n"], sheet["items"], sheet["annotations"]) == (6, 6, 12)
    assert "report" not in sheet and "computed_at" not in sheet


@pytest.mark.parametrize("provenance", [False, True])
def test_every_record_with_or_without_provenance(voted, lead, provenance, monkeypatch):
    """The annotations come with the rows when the provenance streams them,
    from a query of their own otherwise: the same figure. Fetched three rows
    at a time, an item's two annotations often come in two fetches."""
    monkeypatch.setattr(job, "CHUNK", 3)
    version = export_now(voted, lead, options={"provenance": provenance})
    sheet = version.datasheet["agreement"]
    assert sheet["value"] == pytest.approx(ALL_ALPHA, abs=1e-12)
    assert (sheet["n"], sheet["annotations"]) == (8, 16)
    assert sheet["low"] <= sheet["value"] <= sheet["high"]
    assert (sheet["confidence"], sheet["n_boot"], sheet["seed"]) == (0.95, 1000, 0)
    assert [p["username"] for p in version.datasheet["annotators"]] == ["annotator", "second"]


def test_the_dataset_card_states_what_it_measured(voted, lead):
    version = export_now(voted, lead, format="hf", filters={"source": ["consensus"]})
    with versions.open_version_file(version, "README.md") as fh:
        card = fh.read().decode()
    agreement = card.split("### Agreement", 1)[1].split("###", 1)[0]
    assert "the submitted annotations of this version's records" in agreement
    assert "- **value**: 1.0" in agreement and "- **n**: 6" in agreement
