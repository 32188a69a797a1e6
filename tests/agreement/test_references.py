"""The coefficients against reference implementations, to 1e-9, on seeded
random data with missing values: the krippendorff package (α at every level),
scikit-learn (Cohen's κ), statsmodels (Fleiss' κ) and nltk (α with a custom
distance: MASI, Jaccard, binary)."""

from __future__ import annotations

import itertools
import math

import krippendorff
import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import binary_distance, jaccard_distance, masi_distance
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from agreement import coefficients as ag
from tests.agreement.test_coefficients import KRIPPENDORFF_2011

TOL = 1e-9

# (units, coders, categories, share missing, seed)
SHAPES = [
    (40, 2, 2, 0.1, 1),
    (200, 2, 5, 0.2, 2),
    (150, 3, 4, 0.3, 3),
    (80, 5, 7, 0.4, 4),
    (60, 10, 3, 0.5, 5),
    (500, 4, 12, 0.25, 6),
]


def reliability(units: int, coders: int, categories: int, missing: float, seed: int):
    """Random codes 1..categories with some agreement built in, NaN for missing."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, categories + 1, size=(units, 1))
    noise = rng.integers(1, categories + 1, size=(units, coders))
    data = np.where(rng.random((units, coders)) < 0.6, truth, noise).astype(float)
    data[rng.random((units, coders)) < missing] = np.nan
    return data


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_the_krippendorff_package(shape, level):
    data = reliability(*shape)
    expected = krippendorff.alpha(data.T, level_of_measurement=level)
    assert ag.alpha(data, level).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_worked_example_matches_the_package(level):
    expected = krippendorff.alpha(KRIPPENDORFF_2011.T, level_of_measurement=level)
    assert ag.alpha(KRIPPENDORFF_2011, level).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_interval_alpha_on_real_valued_data(seed):
    rng = np.random.default_rng(seed)
    truth = rng.normal(5, 2, size=(120, 1))
    data = np.abs(truth + rng.normal(0, 1, size=(120, 3))).round(2)
    data[rng.random(data.shape) < 0.2] = np.nan
    for level in ("interval", "ratio", "ordinal"):
        expected = krippendorff.alpha(data.T, level_of_measurement=level)
        assert ag.alpha(data, level).value == pytest.approx(expected, abs=TOL)


def triples(rows):
    return [
        (f"c{c}", f"u{u}", value)
        for u, row in enumerate(rows)
        for c, value in enumerate(row)
        if value is not None
    ]


def label_sets(units: int, coders: int, labels: int, seed: int):
    """Random non-empty label sets (frozensets), None for missing."""
    rng = np.random.default_rng(seed)
    names = [f"l{i}" for i in range(labels)]
    rows = []
    for _ in range(units):
        base = set(rng.choice(names, size=rng.integers(1, 3), replace=False).tolist())
        row = []
        for _ in range(coders):
            if rng.random() < 0.2:
                row.append(None)
                continue
            value = set(base)
            if rng.random() < 0.4:
                value ^= {str(rng.choice(names))}
            row.append(frozenset(value or base))
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    ("units", "coders", "labels", "seed"), [(30, 2, 3, 21), (60, 3, 4, 22), (40, 5, 6, 23)]
)
@pytest.mark.parametrize("distance", [masi_distance, jaccard_distance])
def test_alpha_with_custom_distance_matches_nltk(units, coders, labels, seed, distance):
    rows = label_sets(units, coders, labels, seed)
    expected = AnnotationTask(data=triples(rows), distance=distance).alpha()
    assert ag.alpha(rows, distance).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize(
    ("units", "coders", "labels", "seed"), [(30, 2, 3, 31), (60, 3, 4, 32), (40, 5, 6, 33)]
)
def test_our_masi_and_jaccard_alpha_match_nltk(units, coders, labels, seed):
    rows = label_sets(units, coders, labels, seed)
    task = AnnotationTask(data=triples(rows), distance=jaccard_distance)
    assert ag.alpha(rows, ag.jaccard_distance).value == pytest.approx(task.alpha(), abs=TOL)

    task = AnnotationTask(data=triples(rows), distance=ag.masi_distance)
    assert ag.alpha(rows, ag.masi_distance).value == pytest.approx(task.alpha(), abs=TOL)
    # nltk 3.10.4's MASI uses Passonneau's exact 2/3 and 1/3, as ours does:
    # the same distance between any two non-empty label sets, to the last bit.
    for a, b in itertools.combinations({v for row in rows for v in row if v}, 2):
        assert ag.masi_distance(a, b) == masi_distance(a, b)


def test_masi_of_two_empty_sets_is_zero_where_nltk_divides_by_zero():
    assert ag.masi_distance(set(), set()) == 0.0
    with pytest.raises(ZeroDivisionError):
        masi_distance(set(), set())
    assert ag.masi_distance(set(), {"a"}) == masi_distance(set(), {"a"}) == 1.0


@pytest.mark.parametrize("shape", SHAPES[:4])
def test_nominal_alpha_on_labels_matches_nltk_binary_distance(shape):
    data = reliability(*shape)
    rows = [[None if math.isnan(v) else f"k{int(v)}" for v in row] for row in data]
    expected = AnnotationTask(data=triples(rows), distance=binary_distance).alpha()
    assert ag.alpha(rows).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(shape, weights):
    data = reliability(*shape)
    a, b = data[:, 0], data[:, 1]
    both = ~np.isnan(a) & ~np.isnan(b)
    categories = list(range(1, shape[2] + 1))
    expected = cohen_kappa_score(a[both], b[both], weights=weights, labels=categories)
    figure = ag.cohen_kappa(a, b, weights=weights, categories=categories)
    assert figure.value == pytest.approx(expected, abs=TOL)
    assert figure.n == int(both.sum())
    # Without categories: the observed values, sorted, as sklearn does.
    expected = cohen_kappa_score(a[both], b[both], weights=weights)
    assert ag.cohen_kappa(a, b, weights=weights).value == pytest.approx(expected, abs=TOL)


def test_cohen_kappa_on_string_labels_matches_sklearn():
    rng = np.random.default_rng(41)
    names = np.array(["bad", "fine", "good", "great"])
    a = names[rng.integers(0, 4, 300)]
    b = np.where(rng.random(300) < 0.5, a, names[rng.integers(0, 4, 300)])
    for weights in (None, "linear", "quadratic"):
        expected = cohen_kappa_score(a, b, weights=weights)
        figure = ag.cohen_kappa(list(a), list(b), weights=weights, categories=sorted(names))
        assert figure.value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_fleiss_kappa_matches_statsmodels_on_complete_items(shape):
    data = reliability(*shape)
    figure = ag.fleiss_kappa(data)
    counts = (~np.isnan(data)).sum(axis=1)
    # The items with the full number of values, packed (raters may differ).
    complete = np.array([row[~np.isnan(row)] for row in data[counts == counts.max()]])
    table, _ = aggregate_raters(complete.astype(int))
    assert figure.value == pytest.approx(fleiss_kappa(table), abs=TOL)
    assert figure.n == len(complete)
    assert figure.dropped == len(data) - len(complete)


def test_fleiss_kappa_table_matches_statsmodels():
    rng = np.random.default_rng(51)
    for _ in range(5):
        table = rng.multinomial(8, rng.dirichlet(np.ones(5)), size=40)
        assert ag.fleiss_kappa_table(table).value == pytest.approx(fleiss_kappa(table), abs=TOL)


def brute_force_percent(data: np.ndarray) -> float:
    shares = []
    for row in data:
        values = [v for v in row if not math.isnan(v)]
        pairs = list(itertools.combinations(values, 2))
        if pairs:
            shares.append(sum(x == y for x, y in pairs) / len(pairs))
    return sum(shares) / len(shares)


@pytest.mark.parametrize("shape", SHAPES)
def test_percent_agreement_matches_a_brute_force_count(shape):
    data = reliability(*shape)
    assert ag.percent_agreement(data).value == pytest.approx(brute_force_percent(data), abs=TOL)


def test_percent_agreement_of_two_coders_is_the_share_of_equal_items():
    data = reliability(300, 2, 4, 0.2, 61)
    both = ~np.isnan(data).any(axis=1)
    expected = float((data[both, 0] == data[both, 1]).mean())
    assert ag.percent_agreement(data).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("level", ["ratio", "interval", "ordinal"])
def test_values_including_zero_match_the_package(level):
    data = reliability(120, 3, 4, 0.2, 71) - 1  # codes 0..3
    expected = krippendorff.alpha(data.T, level_of_measurement=level)
    assert ag.alpha(data, level).value == pytest.approx(expected, abs=TOL)
