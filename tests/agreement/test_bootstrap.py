"""The seeded bootstrap interval for alpha, and the speed of the alpha path."""

from __future__ import annotations

import time

import numpy as np
import pytest

from agreement import coefficients as ag


def dataset(units: int = 200, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, size=(units, 1))
    data = np.where(rng.random((units, 3)) < 0.75, truth, rng.integers(0, 4, (units, 3)))
    data = data.astype(float)
    data[rng.random(data.shape) < 0.15] = np.nan
    return data


def test_same_seed_same_interval():
    data = dataset()
    first = ag.alpha_interval(data, n_boot=300, seed=42)
    again = ag.alpha_interval(data, n_boot=300, seed=42)
    assert first == again
    other = ag.alpha_interval(data, n_boot=300, seed=43)
    assert (other.low, other.high) != (first.low, first.high)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_interval_contains_the_estimate(level):
    interval = ag.alpha_interval(dataset(), level, n_boot=500, seed=1)
    assert interval.estimate == ag.alpha(dataset(), level)
    assert interval.low < interval.estimate.value < interval.high
    assert interval.high - interval.low < 0.3
    assert interval.n_valid == interval.n_boot == 500 and interval.reason == ""
    assert interval.confidence == 0.95 and "percentile" in interval.method


def unit_bootstrap(data, level, n_boot: int, seed: int) -> list[float]:
    """Literally resampling the pairable units with replacement and computing
    alpha on each resample: the definition the pattern counts must follow."""
    pairable = data[(~np.isnan(data)).sum(axis=1) >= 2]
    rng = np.random.default_rng(seed)
    return [
        ag.alpha(pairable[rng.integers(0, len(pairable), len(pairable))], level).value
        for _ in range(n_boot)
    ]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_a_resample_as_pattern_counts_is_alpha_of_the_resampled_units(level):
    # The same draw of units, once as rows and once as counts per pattern:
    # the same alpha (the ordinal metric from the resample's own marginals).
    data = dataset(80, seed=9)
    encoded = ag._encode(data)
    patterns = ag._patterns(encoded.codes, len(encoded.values))
    pairable = data[(~np.isnan(data)).sum(axis=1) >= 2]
    assert len(patterns.count) < len(pairable) == patterns.count.sum()
    rng = np.random.default_rng(11)
    for _ in range(20):
        draw = rng.integers(0, len(pairable), len(pairable))
        counts = np.bincount(patterns.of_unit[draw], minlength=len(patterns.count))
        o = patterns.pairs.coincidences(counts.astype(float))
        delta = ag._delta(level, encoded.values, o.sum(axis=1))
        expected = ag.alpha(pairable[draw], level).value
        assert ag._alpha_from(o, delta) == pytest.approx(expected, abs=1e-12)


def test_a_resample_as_pattern_counts_with_a_custom_distance():
    rows = [
        [frozenset(a), frozenset(b), None if c is None else frozenset(c)]
        for a, b, c in [("ab", "ab", None), ("a", "ab", "b"), ("c", "c", "c"), ("b", "a", None)] * 6
    ]
    encoded = ag._encode(rows)
    patterns = ag._patterns(encoded.codes, len(encoded.values))
    assert patterns.count.tolist() == [6, 6, 6, 6]
    rng = np.random.default_rng(2)
    draw = rng.integers(0, len(rows), len(rows))
    counts = np.bincount(patterns.of_unit[draw], minlength=4).astype(float)
    o = patterns.pairs.coincidences(counts)
    delta = ag._delta(ag.masi_distance, encoded.values, o.sum(axis=1))
    expected = ag.alpha([rows[i] for i in draw], ag.masi_distance).value
    assert ag._alpha_from(o, delta) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_the_pattern_bootstrap_has_the_unit_bootstrap_distribution(level):
    # Different random streams, the same distribution: over 2,000 resamples
    # each, the two 90% intervals agree to Monte Carlo error (about 0.003).
    data = dataset(120, seed=4)
    low, high = np.quantile(unit_bootstrap(data, level, 2000, seed=7), [0.05, 0.95])
    interval = ag.alpha_interval(data, level, n_boot=2000, confidence=0.9, seed=8)
    assert interval.low == pytest.approx(low, abs=0.015)
    assert interval.high == pytest.approx(high, abs=0.015)


def test_a_thousand_resamples_of_a_million_annotations_take_well_under_two_seconds():
    # 12 s of CPU when every resample redrew the units one by one.
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, size=(500_000, 1))
    data = np.where(rng.random((500_000, 2)) < 0.75, truth, rng.integers(0, 10, (500_000, 2)))
    data = data.astype(float)
    data[rng.random(500_000) < 0.05, 1] = np.nan
    start = time.process_time()
    interval = ag.alpha_interval(data, n_boot=1000, seed=0)
    elapsed = time.process_time() - start
    assert interval.n_valid == 1000 and interval.low < interval.estimate.value < interval.high
    # About 0.6 s of CPU on the reference machine.
    assert elapsed < 2


def test_wider_confidence_gives_a_wider_interval():
    narrow = ag.alpha_interval(dataset(), n_boot=400, confidence=0.8, seed=3)
    wide = ag.alpha_interval(dataset(), n_boot=400, confidence=0.99, seed=3)
    assert wide.low <= narrow.low and narrow.high <= wide.high


def test_interval_with_a_custom_distance():
    rows = [
        [frozenset(a), frozenset(b)]
        for a, b in [("ab", "ab"), ("a", "ab"), ("c", "c"), ("b", "a"), ("ac", "c")] * 8
    ]
    interval = ag.alpha_interval(rows, ag.masi_distance, n_boot=200, seed=0)
    assert interval.low <= interval.estimate.value <= interval.high


def test_undefined_estimate_gives_no_interval():
    interval = ag.alpha_interval(np.ones((10, 2)), n_boot=50)
    assert interval.low is None and interval.high is None
    assert interval.reason == ag.NO_EXPECTED_DISAGREEMENT
    nothing = ag.alpha_interval(np.array([[1.0, np.nan]]), n_boot=50)
    assert nothing.reason == ag.NOTHING_PAIRABLE
    with pytest.raises(ValueError):
        ag.alpha_interval(dataset(), confidence=1.5)


def test_mostly_undefined_resamples_give_no_interval():
    # One disagreeing unit among 40 agreeing ones on a single category: about
    # a third of the resamples (1/e) miss it and have no expected disagreement.
    data = np.vstack([np.zeros((40, 2)), [[0.0, 1.0]]])
    interval = ag.alpha_interval(data, n_boot=200, seed=0)
    assert interval.estimate.defined
    assert interval.low is None and "resamples gave a defined alpha" in interval.reason
    assert interval.n_valid < 0.95 * interval.n_boot


def test_alpha_over_half_a_million_items_is_vectorised():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 5, size=(500_000, 2)).astype(float)
    data[rng.random(data.shape) < 0.05] = np.nan
    start = time.perf_counter()
    figure = ag.alpha(data)
    elapsed = time.perf_counter() - start
    assert figure.n > 450_000
    # About 0.5 s on the reference machine; a loop per item takes far longer.
    assert elapsed < 10


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_weights_stand_for_repeated_units(level):
    # The report's per-label figures run on distinct units with counts:
    # the same α, n and interval as the units themselves.
    data = dataset(150, seed=6)
    filled = np.sort(np.where(np.isnan(data), -1, data), axis=1)
    rows, count = np.unique(filled, axis=0, return_counts=True)
    rows = np.where(rows < 0, np.nan, rows)
    assert len(rows) < len(data)
    plain, weighted = ag.alpha(data, level), ag.alpha(rows, level, weights=count)
    assert weighted.value == pytest.approx(plain.value, abs=1e-12) and weighted.n == plain.n
    first = ag.alpha_interval(data, level, n_boot=300, seed=5)
    again = ag.alpha_interval(rows, level, n_boot=300, seed=5, weights=count)
    assert (again.low, again.high, again.n_valid) == (first.low, first.high, first.n_valid)
    for bad in (count[:-1], count - 5, count.astype(float)):
        with pytest.raises(ValueError, match="weights"):
            ag.alpha(rows, level, weights=bad)
