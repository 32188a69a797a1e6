"""The agreement report on a real database populated through the services:
every figure equals a hand computation (or, for α, the reference library on
the same hand-built matrix)."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from agreement.reports import ReportParams
from agreement.services import latest_report, report_run
from projects.jobs import job_create, run_job

pytestmark = pytest.mark.django_db

CODES = {"neg": 0, "neu": 1, "pos": 2}


def alpha_ref(rows: list[tuple]) -> float:
    """krippendorff on units × coders rows of labels (None = missing)."""
    matrix = np.array(
        [[np.nan if v is None else CODES[v] for v in row] for row in rows], dtype=float
    ).T
    return krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")


@pytest.fixture
def known(seven_items, project, lead):
    """The report of the seven items (tests/agreement/conftest.py)."""
    job = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=200).as_dict()
    )
    run_job(job.pk, report_run)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return latest_report(project).result


ALL = [
    ("pos", "pos"),
    ("pos", "neg"),
    ("neg", "neg"),
    ("pos", "pos"),
    ("neu", "neu"),
    ("pos", "neg"),
    ("neg", None),
]


def test_counts(known):
    assert known["n"] == {
        "annotations": 13, "items": 7, "pairable_items": 6,
        "single_annotation_items": 1, "annotators": 3,
    }  # fmt: skip


def test_the_headline_is_nominal_alpha_with_an_interval(known):
    head = known["headline"]
    assert known["coefficient"] == "alpha" and known["level"] == "nominal"
    assert head["value"] == pytest.approx(alpha_ref(ALL), abs=1e-9)
    assert head["n"] == 6 and head["small"] is True
    assert head["low"] is None or head["low"] <= head["value"] <= head["high"]
    assert "read with caution" in head["reading"]


def test_percent_agreement_and_fleiss(known):
    assert known["percent_agreement"]["value"] == pytest.approx(4 / 6)
    # Fleiss on the six complete items: P̄ = 4/6; p = (neg 4, neu 2, pos 6)/12.
    p = np.array([4, 2, 6]) / 12
    pe = float((p**2).sum())
    assert known["fleiss_kappa"]["value"] == pytest.approx((4 / 6 - pe) / (1 - pe), abs=1e-12)
    assert known["fleiss_kappa"]["n"] == 6 and known["fleiss_kappa"].get("dropped") == 1


def test_per_label_is_one_against_the_rest(known):
    by_label = {row["label"]: row for row in known["per_label"]}
    for label in ("pos", "neg", "neu"):
        binary = [
            tuple(None if v is None else ("yes" if v == label else "no") for v in r) for r in ALL
        ]
        matrix = np.array(
            [[np.nan if v is None else (v == "yes") for v in r] for r in binary], float
        ).T
        expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
        assert by_label[label]["value"] == pytest.approx(expected, abs=1e-9), label
        assert by_label[label]["n"] == 6
    values = [row["value"] for row in known["per_label"]]
    assert values == sorted(values)  # worst first
    assert by_label["pos"]["name"] == "Positive"


def test_per_pair_kappa(known, people):
    pairs = {(p["a"], p["b"]): p for p in known["pairs"]}
    A, B, C = (people[x].pk for x in "ABC")
    ab = pairs[(min(A, B), max(A, B))]
    # A: pos pos neg, B: pos neg neg → po 2/3, pe 4/9, κ = 0.4.
    assert ab["value"] == pytest.approx(0.4) and ab["n"] == 3 and ab["small"] is True
    assert ab["agreement"] == pytest.approx(2 / 3)
    ac = pairs[(min(A, C), max(A, C))]
    # A: pos neu, C: pos neu → perfect agreement over two categories.
    assert ac["value"] == pytest.approx(1.0) and ac["n"] == 2
    bc = pairs[(min(B, C), max(B, C))]
    # One item, B pos / C neg: κ = (0 − 0)/(1 − 0) = 0.
    assert bc["n"] == 1 and bc["value"] == pytest.approx(0.0)


def test_against_gold_only_on_adjudicated_items(known, people):
    rows = {r["annotator"]: r for r in known["against_gold"]}
    A, B, C = (people[x].pk for x in "ABC")
    # Gold: "two" → neg (A said pos, B neg); "five" → pos (B pos, C neg).
    assert rows[A]["accuracy"]["value"] == 0.0 and rows[A]["accuracy"]["n"] == 1
    assert rows[B]["accuracy"]["value"] == 1.0 and rows[B]["accuracy"]["n"] == 2
    assert rows[C]["accuracy"]["value"] == 0.0 and rows[C]["accuracy"]["n"] == 1
    # Consensus items ("one", "three", "four", "six") never count.
    assert sum(r["accuracy"]["n"] for r in rows.values()) == 4


def test_per_guideline_version_with_a_mixed_bucket(known):
    rows = {r["version"]: r for r in known["per_version"]}
    assert set(rows) == {"1", "2", "mixed"}
    v1 = [("pos", "pos"), ("pos", "neg"), ("neg", "neg")]
    assert rows["1"]["value"] == pytest.approx(alpha_ref(v1), abs=1e-9) and rows["1"]["n"] == 3
    v2 = [("neu", "neu"), ("pos", "neg")]
    assert rows["2"]["value"] == pytest.approx(alpha_ref(v2), abs=1e-9) and rows["2"]["n"] == 2
    assert rows["mixed"]["n"] == 1
    assert "low" in rows["1"] and "high" in rows["1"]


def test_per_week_and_confusion(known):
    (week,) = known["per_week"]
    assert week["n"] == 6 and week["week"].count("-W") == 1
    confusion = known["confusion"]
    assert confusion["keys"] == ["neg", "neu", "pos"]
    assert confusion["labels"] == ["Negative", "Neutral", "Positive"]
    assert confusion["matrix"] == [[2, 0, 2], [0, 2, 0], [2, 0, 4]]
