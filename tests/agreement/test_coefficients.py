"""Published worked examples, edge cases and the honesty rules of
agreement/coefficients.py. Pure tests: no database."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agreement import coefficients as ag
from agreement.coefficients import Figure

NAN = np.nan

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability,
# section D: four coders (rows here are transposed: units × coders), twelve
# units, values 1–5, missing values. Published α: nominal .743, ordinal .815,
# interval .849, ratio .797 (checked against the krippendorff package to 1e-9
# in test_references.py).
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
).T

# Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
# Psychological Bulletin 76(5):378–382: 30 patients, 6 psychiatrists each,
# 5 diagnoses (depression, personality disorder, schizophrenia, neurosis,
# other); published κ = .430. Rows as in R's irr::diagnoses and statsmodels'
# test data (raters per patient; the raters differ between patients).
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ],
    dtype=float,
)

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters,
# 5 categories, as a subjects × categories count table; P̄ = 0.378,
# P̄_e = 0.213, κ = 0.210.
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def from_table(table: list[list[int]]) -> tuple[list[int], list[int]]:
    """Two coders' labels from a contingency table (rows: coder A)."""
    a: list[int] = []
    b: list[int] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [i] * count
            b += [j] * count
    return a, b


# --- Krippendorff's alpha: worked examples -----------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_krippendorff_2011_four_coders(level, published):
    figure = ag.alpha(KRIPPENDORFF_2011, level)
    assert figure.value == pytest.approx(published, abs=5e-4)
    # Unit 12 has one value only (not pairable); the other 11 count.
    assert figure.n == 11
    assert figure.small and figure.reason == ""


def test_alpha_krippendorff_2011_two_observers():
    # Krippendorff (2011), section A, binary data, two observers, ten units:
    # α = 0.095; section B, nominal data, two observers, twelve units:
    # α = 0.692. (Values as recalled from the paper; both equal the
    # krippendorff package's result.)
    binary = [[0, 1], [1, 1], [0, 1], [0, 0], [0, 0], [0, 1], [0, 0], [0, 0], [1, 0], [0, 0]]
    assert ag.alpha(binary).value == pytest.approx(0.095, abs=5e-4)
    a = "a a b b d c c c e d d a".split()
    b = "b a b b b c c c e d d d".split()
    assert ag.alpha(list(zip(a, b, strict=True))).value == pytest.approx(0.692, abs=5e-4)


def test_alpha_krippendorff_package_docstring_example():
    # The krippendorff package's documented example (3 coders × 15 units,
    # the example of Wikipedia's "Krippendorff's alpha" article): nominal
    # 0.691358, interval 0.810845.
    data = np.array(
        [
            [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
            [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
            [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
        ]
    ).T
    assert ag.alpha(data, "nominal").value == pytest.approx(0.691358, abs=5e-7)
    assert ag.alpha(data, "interval").value == pytest.approx(0.810845, abs=5e-7)


def test_alpha_labels_and_codes_agree():
    # The same data as strings, as ints with None, and as a float matrix.
    labels = {1.0: "one", 2.0: "two", 3.0: "three", 4.0: "four", 5.0: "five"}
    rows = [[None if math.isnan(v) else labels[v] for v in row] for row in KRIPPENDORFF_2011]
    expected = ag.alpha(KRIPPENDORFF_2011).value
    assert ag.alpha(rows).value == pytest.approx(expected, abs=1e-12)
    ints = [[None if math.isnan(v) else int(v) for v in row] for row in KRIPPENDORFF_2011]
    for level in ("ordinal", "interval", "ratio"):
        assert ag.alpha(ints, level).value == pytest.approx(
            ag.alpha(KRIPPENDORFF_2011, level).value, abs=1e-12
        )


def test_to_matrix_keeps_the_given_order_for_ordinal_labels():
    order = ["low", "mid", "high"]
    rows = [["low", "mid"], ["high", "high"], ["mid", None], ["low", "low"], ["high", "mid"]]
    matrix, categories = ag.to_matrix(rows, order)
    assert categories == order
    assert matrix[0].tolist() == [0.0, 1.0]
    assert math.isnan(matrix[2, 1])
    # Alphabetical order (high < low < mid) would give another ordinal alpha.
    alphabetical, _ = ag.to_matrix(rows)
    assert ag.alpha(matrix, "ordinal").value != ag.alpha(alphabetical, "ordinal").value
    with pytest.raises(ValueError, match="not among the categories"):
        ag.to_matrix([["low", "extreme"]], order)


# --- Cohen's kappa: worked examples ------------------------------------------


def test_cohen_kappa_wikipedia_fifty_items():
    # Wikipedia, "Cohen's kappa", worked example: 50 proposals, both yes 20,
    # A yes / B no 5, A no / B yes 10, both no 15: p_o = 0.7, p_e = 0.5,
    # κ = 0.4.
    a, b = from_table([[20, 5], [10, 15]])
    figure = ag.cohen_kappa(a, b)
    assert figure.value == pytest.approx(0.4, abs=1e-12)
    assert figure.n == 50 and not figure.small


def test_cohen_kappa_sas_example_simple_and_weighted():
    # SAS/STAT PROC FREQ documentation, "Agreement Study" output (also in
    # statsmodels' tests): simple κ = 0.4842, weighted κ with
    # Cicchetti-Allison (linear) weights = 0.4701. The quadratic value is
    # scikit-learn's cohen_kappa_score(weights="quadratic"): 0.45016077...
    a, b = from_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    assert ag.cohen_kappa(a, b).value == pytest.approx(0.4842, abs=5e-5)
    assert ag.cohen_kappa(a, b, weights="linear").value == pytest.approx(0.4701, abs=5e-5)
    assert ag.cohen_kappa(a, b, weights="quadratic").value == pytest.approx(
        0.45016077170418, abs=1e-12
    )


def test_cohen_kappa_drops_items_either_coder_missed():
    a = [1, 2, None, 1, NAN, 2, np.float32("nan")]
    b = [1, 2, 1, None, 2, 1, 2]
    figure = ag.cohen_kappa(a, b)
    assert figure.n == 3
    assert figure.value == ag.cohen_kappa([1, 2, 2], [1, 2, 1]).value


def test_cohen_kappa_categories_fix_the_weights():
    # An unused middle category changes the ranks and so a weighted kappa.
    a = ["low", "high", "top", "low", "top", "low"]
    b = ["high", "high", "top", "low", "high", "top"]
    with_mid = ag.cohen_kappa(a, b, weights="linear", categories=["low", "mid", "high", "top"])
    without = ag.cohen_kappa(a, b, weights="linear", categories=["low", "high", "top"])
    assert with_mid.value != pytest.approx(without.value)
    # Unweighted kappa does not depend on the categories' order.
    unweighted = ag.cohen_kappa(a, b, categories=["top", "high", "mid", "low"])
    assert unweighted.value == pytest.approx(ag.cohen_kappa(a, b).value, abs=1e-12)
    with pytest.raises(ValueError):
        ag.cohen_kappa([1, 2], [1])


# --- Fleiss' kappa: worked examples ------------------------------------------


def test_fleiss_kappa_fleiss_1971():
    figure = ag.fleiss_kappa(FLEISS_1971)
    assert figure.value == pytest.approx(0.430, abs=5e-4)
    assert figure.n == 30 and figure.dropped == 0 and not figure.small


def test_fleiss_kappa_wikipedia_table():
    figure = ag.fleiss_kappa_table(WIKIPEDIA_FLEISS)
    assert figure.value == pytest.approx(0.210, abs=5e-4)
    assert figure.n == 10 and figure.small


def test_fleiss_kappa_uses_complete_items_and_says_how_many_it_dropped():
    data = FLEISS_1971.copy()
    data[3, 0] = NAN
    data[7, 2:4] = NAN
    figure = ag.fleiss_kappa(data)
    assert figure.dropped == 2 and figure.n == 28
    complete = np.delete(FLEISS_1971, [3, 7], axis=0)
    assert figure.value == pytest.approx(ag.fleiss_kappa(complete).value, abs=1e-12)
    # Asking for 4 raters keeps only the item with exactly four.
    four = ag.fleiss_kappa(data, raters=4)
    assert four.n == 1 and four.dropped == 29


def test_fleiss_kappa_raters_need_not_be_the_same_people():
    # Each item rated by 3 of 5 annotators: columns are annotators.
    rows = [
        [1, 1, 2, NAN, NAN],
        [NAN, 2, 2, 2, NAN],
        [3, NAN, NAN, 3, 1],
        [NAN, NAN, 1, 1, 1],
    ]
    packed = [[v for v in row if not math.isnan(v)] for row in rows]
    assert ag.fleiss_kappa(np.array(rows)).value == pytest.approx(
        ag.fleiss_kappa(np.array(packed)).value, abs=1e-12
    )


# --- percent agreement -------------------------------------------------------


def test_percent_agreement_by_hand():
    # Unit 1: 3 values, pairs (1,1) (1,2) (1,2) → 1/3. Unit 2: 2 of 2 → 1.
    # Unit 3: one value, not pairable. Mean over pairable units: 2/3.
    data = np.array([[1, 1, 2], [3, 3, NAN], [1, NAN, NAN]])
    figure = ag.percent_agreement(data)
    assert figure.value == pytest.approx(2 / 3, abs=1e-12)
    assert figure.n == 2


def test_percent_agreement_equals_fleiss_p_bar_on_complete_data():
    # Wikipedia's Fleiss example gives P̄ = 0.378 for the same table.
    rows = [[c for c, count in enumerate(row) for _ in range(count)] for row in WIKIPEDIA_FLEISS]
    assert ag.percent_agreement(np.array(rows)).value == pytest.approx(0.378, abs=5e-4)


# --- edge cases: undefined is None with a reason, never 0 or 1 ----------------


def test_one_category_only_is_undefined():
    data = np.array([[1, 1], [1, 1], [1, NAN], [1, 1]])
    for figure in (
        ag.alpha(data),
        ag.alpha(data, "interval"),
        ag.cohen_kappa(data[:, 0], data[:, 1]),
        ag.fleiss_kappa(data),
    ):
        assert figure.value is None and not figure.defined
        assert "one category" in figure.reason or "no expected disagreement" in figure.reason
        assert figure.n == 3
    # Percent agreement is defined: they did agree on every pairable item.
    assert ag.percent_agreement(data).value == 1.0


def test_all_agree():
    data = np.array([[1, 1, 1], [2, 2, 2], [3, 3, NAN], [1, 1, 1]])
    assert ag.alpha(data).value == 1.0
    assert ag.alpha(data, "interval").value == 1.0
    assert ag.percent_agreement(data).value == 1.0
    assert ag.cohen_kappa(data[:, 0], data[:, 1]).value == 1.0
    assert ag.fleiss_kappa(data).value == pytest.approx(1.0, abs=1e-12)


def test_all_disagree():
    # Two units, two coders, swapped values. o_12 = o_21 = 2, n = 4,
    # D_o = 1, D_e = 2·2·2 / (4·3) = 2/3, α = 1 − 3/2 = −0.5.
    data = np.array([[1, 2], [2, 1]])
    assert ag.alpha(data).value == pytest.approx(-0.5, abs=1e-12)
    assert ag.percent_agreement(data).value == 0.0
    # p_o = 0, p_e = 0.5: κ = −1.
    assert ag.cohen_kappa(data[:, 0], data[:, 1]).value == pytest.approx(-1.0, abs=1e-12)


def test_a_single_item():
    disagree = ag.alpha(np.array([[1, 2]]))
    assert disagree.value == pytest.approx(0.0, abs=1e-12)
    assert disagree.n == 1 and disagree.small
    agree = ag.alpha(np.array([[1, 1]]))
    assert agree.value is None and agree.reason == ag.NO_EXPECTED_DISAGREEMENT
    assert ag.cohen_kappa([1], [1]).value is None


def test_nothing_pairable_is_undefined():
    one_each = np.array([[1, NAN], [NAN, 2], [3, NAN]])
    for figure in (ag.alpha(one_each), ag.percent_agreement(one_each)):
        assert figure.value is None and figure.reason == ag.NOTHING_PAIRABLE
        assert figure.n == 0
    assert ag.alpha([]).value is None
    assert ag.alpha(np.full((3, 2), NAN)).reason == ag.NOTHING_PAIRABLE
    assert ag.cohen_kappa(one_each[:, 0], one_each[:, 1]).reason == ag.NOTHING_PAIRABLE
    fleiss = ag.fleiss_kappa(one_each)
    assert fleiss.value is None and fleiss.reason == ag.NOTHING_PAIRABLE
    seven = ag.fleiss_kappa(FLEISS_1971, raters=7)
    assert seven.value is None and seven.reason == "no item has exactly 7 ratings"
    assert seven.dropped == 30


def test_small_n_is_flagged():
    rng = np.random.default_rng(7)
    data = rng.integers(0, 3, size=(30, 2)).astype(float)
    # Interval α: the count of units alone (nominal α also counts its rarest
    # category's values, see test_sample_size.py).
    assert not ag.alpha(data, "interval").small
    assert ag.alpha(data[:29], "interval").small
    assert ag.alpha(data[:29], "interval").n == 29
    assert not ag.alpha(data[:29], "interval", small_below=20).small
    assert ag.alpha(data).small and ag.alpha(data).scarce is not None
    assert ag.cohen_kappa(data[:29, 0], data[:29, 1]).small
    assert ag.percent_agreement(data, small_below=31).small


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="ratio data cannot be negative"):
        ag.alpha(np.array([[-1, 2], [3, 4]]), "ratio")
    with pytest.raises(ValueError, match="unknown level"):
        ag.alpha(np.array([[1, 2]]), "cardinal")
    with pytest.raises(ValueError, match="needs numbers or category codes"):
        ag.alpha([["a", "b"], ["b", "b"]], "interval")
    # Ordered labels need their order, never an alphabetical one by accident.
    with pytest.raises(ValueError, match="needs numbers or category codes"):
        ag.alpha([["low", "high"], ["high", "high"]], "ordinal")
    with pytest.raises(ValueError, match="pass categories"):
        ag.cohen_kappa(["low", "high"], ["high", "high"], weights="linear")


# --- distances ---------------------------------------------------------------


def test_masi_distance_by_hand():
    # Passonneau (2006): MASI = J · M; distance = 1 − MASI.
    assert ag.masi_distance({"a", "b"}, {"a", "b"}) == 0.0
    assert ag.masi_distance({"a"}, {"a", "b"}) == pytest.approx(1 - 0.5 * 2 / 3)
    assert ag.masi_distance({"a", "b"}, {"b", "c"}) == pytest.approx(1 - (1 / 3) * (1 / 3))
    assert ag.masi_distance({"a"}, {"b"}) == 1.0
    assert ag.masi_distance(set(), set()) == 0.0
    assert ag.masi_distance(set(), {"a"}) == 1.0


def test_jaccard_distance_by_hand():
    assert ag.jaccard_distance({"a", "b"}, {"b", "c"}) == pytest.approx(2 / 3)
    assert ag.jaccard_distance(["a"], ["a"]) == 0.0
    assert ag.jaccard_distance(set(), set()) == 0.0
    assert ag.jaccard_distance({"a"}, set()) == 1.0


def test_distance_for_task_type_levels():
    assert ag.distance_for("nominal") == "nominal"
    assert ag.distance_for("masi") is ag.masi_distance
    assert ag.distance_for("jaccard") is ag.jaccard_distance
    with pytest.raises(ValueError):
        ag.distance_for("spans")


def test_alpha_with_masi_on_label_lists():
    # Multi-label values as lists; order within a value does not matter.
    rows = [
        [["a", "b"], ["b", "a"]],
        [["a"], ["a", "b"]],
        [["c"], ["c"], None],
        [["b"], ["a"]],
        [["a", "c"], ["c"]],
    ]
    as_sets = [[None if v is None else frozenset(v) for v in row] for row in rows]
    masi = ag.alpha(as_sets, ag.masi_distance)
    assert masi.defined and masi.n == 5
    # Identical label sets throughout: every distance 0 → undefined.
    same = ag.alpha([[{"a"}, {"a"}], [{"a"}, {"a"}]], ag.jaccard_distance)
    assert same.value is None and same.reason == ag.NO_EXPECTED_DISAGREEMENT


# --- reading the figures -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reading"),
    [
        (0.95, "reliable"),
        (0.800, "reliable"),
        (0.799, "tentative"),
        (0.667, "tentative"),
        (0.666, "not reliable"),
        (-0.2, "not reliable"),
    ],
)
def test_interpret_alpha(value, reading):
    assert ag.interpret(value, "alpha").startswith(reading)


@pytest.mark.parametrize(
    ("value", "reading"),
    [
        (-0.05, "poor"),
        (0.0, "slight"),
        (0.20, "slight"),
        (0.21, "fair"),
        (0.40, "fair"),
        (0.55, "moderate"),
        (0.61, "substantial"),
        (0.80, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
    ],
)
def test_interpret_kappa_landis_koch(value, reading):
    assert ag.interpret(value, "kappa").startswith(reading)


def test_interpret_undefined_small_and_other():
    undefined = Figure(None, 0, reason=ag.NOTHING_PAIRABLE)
    assert ag.interpret(undefined) == f"undefined: {ag.NOTHING_PAIRABLE}"
    assert ag.interpret(None) == "undefined"
    small = Figure(0.9, 12, small=True)
    assert ag.interpret(small) == (
        "reliable — from the value alone: no interval; only 12 units: read with caution"
    )
    assert "no conventional threshold" in ag.interpret(0.9, "span_f1")
