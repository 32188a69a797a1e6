"""Krippendorff's sample-size guidance for nominal α (the rarest category's
values, the smallest acceptable α, the level of significance), and reading
α by its interval's lower bound."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from agreement import coefficients as ag
from agreement.coefficients import Figure, Interval


@pytest.mark.parametrize("p_c", [0.5, 0.25, 0.1, 0.01])
@pytest.mark.parametrize(("alpha_min", "significance"), [(0.8, 0.05), (0.667, 0.1), (0.9, 0.01)])
def test_units_needed_puts_the_midpoint_z_standard_errors_above_the_minimum(
    p_c, alpha_min, significance
):
    # Bloch & Kraemer (1989): the large-sample variance of the intraclass κ
    # of binary data from two coders on N units, at κ halfway between the
    # minimum and perfect agreement.
    n = ag.units_needed(p_c, alpha_min=alpha_min, significance=significance)
    kappa = (1 + alpha_min) / 2
    variance = (
        (1 - kappa)
        / n
        * ((1 - kappa) * (1 - 2 * kappa) + kappa * (2 - kappa) / (2 * p_c * (1 - p_c)))
    )
    z = NormalDist().inv_cdf(1 - significance)
    assert alpha_min + z * math.sqrt(variance) == pytest.approx(kappa, rel=1e-12)


def test_units_needed_gives_the_published_two_coder_figures():
    # Krippendorff's table (4th ed., 2019) as quoted in the ATLAS.ti inter-coder
    # agreement manual: four equally likely codes (p_c = 1/4), two coders, p = .05:
    # 139 values for α_min = .800, 81 for α_min = .667.
    assert math.ceil(2 * ag.units_needed(0.25)) == 139
    assert math.ceil(2 * ag.units_needed(0.25, alpha_min=0.667)) == 81
    # A stricter level, a higher minimum or a rarer category needs more.
    assert ag.units_needed(0.25, significance=0.01) > ag.units_needed(0.25)
    assert ag.units_needed(0.25, alpha_min=0.9) > ag.units_needed(0.25)
    assert ag.units_needed(0.1) > ag.units_needed(0.25) > ag.units_needed(0.5)


@pytest.mark.parametrize("p_c", [1e-2, 1e-3, 1e-5])
def test_a_rare_category_needs_about_27_values_whatever_its_share(p_c):
    values = 2 * ag.units_needed(p_c) * p_c
    assert 26.7 < values < 27.1


@pytest.mark.parametrize("bad", [{"p_c": 0}, {"p_c": 1}, {"p_c": 0.2, "alpha_min": 1}])
def test_units_needed_refuses_what_has_no_answer(bad):
    p_c = bad.pop("p_c")
    with pytest.raises(ValueError):
        ag.units_needed(p_c, **bad)


def test_one_agreed_positive_among_a_thousand_units_is_flagged():
    data = np.zeros((1000, 2))
    data[0] = 1
    figure = ag.alpha(data)
    assert figure.value == 1.0 and figure.n == 1000
    assert figure.small
    scarce = figure.scarce
    assert (scarce.category, scarce.values, scarce.total) == (1, 2, 2000)
    assert scarce.units_needed == math.ceil(ag.units_needed(2 / 2000)) == 13_404
    assert scarce.values_needed == 27
    assert scarce.text == (
        "only 2 of 2,000 values are '1': at least 27 are needed to tell α ≥ .800 at p = .05 "
        "(13,404 items at that share)"
    )
    reading = ag.interpret(figure)
    assert scarce.text in reading and reading.endswith("read with caution")


def test_the_rarest_category_is_the_one_judged():
    # Three categories; 'c' has 4 values among 600.
    rows = [["a", "a"]] * 200 + [["b", "b"]] * 98 + [["c", "c"]] * 2
    scarce = ag.alpha(rows).scarce
    assert (scarce.category, scarce.values, scarce.total) == ("c", 4, 600)
    assert scarce.units_needed == math.ceil(ag.units_needed(4 / 600))


def test_a_balanced_binary_category_needs_52_units():
    # p_c = 1/2: N = 51.4 units at α_min = .800 and p = .05.
    def data(units: int) -> np.ndarray:
        return np.repeat([[0.0, 0.0], [1.0, 1.0]], units // 2, axis=0)

    assert ag.alpha(data(52)).scarce is None and not ag.alpha(data(52)).small
    flagged = ag.alpha(data(50))
    assert flagged.small and flagged.scarce.units_needed == 52
    assert flagged.scarce.values_needed == 52  # 52 units hold 52 values of each category
    # A lower minimum or a looser level needs fewer.
    assert ag.alpha(data(50), alpha_min=0.667).scarce is None
    assert ag.alpha(data(50), significance=0.1).scarce is None


def test_more_values_per_unit_count_units_and_the_values_they_hold():
    # Three coders: 2 of 3,000 values; the units needed are the same, and
    # they would hold half as many values again of the category.
    data = np.zeros((1000, 3))
    data[0, :2] = 1
    scarce = ag.alpha(data).scarce
    assert scarce.values == 2 and scarce.total == 3000
    needed = ag.units_needed(2 / 3000)
    assert scarce.units_needed == math.ceil(needed)
    assert scarce.values_needed == math.ceil(needed * 2 / 1000)


def test_only_nominal_alpha_is_judged_by_its_rarest_category():
    data = np.zeros((1000, 2))
    data[0] = 1
    for level in ("ordinal", "interval", "ratio"):
        figure = ag.alpha(data, level)
        assert figure.scarce is None and not figure.small, level
    # The interval's estimate carries the flag too.
    assert ag.alpha_interval(data, n_boot=50).estimate.scarce == ag.alpha(data).scarce


# --- reading by the lower bound ----------------------------------------------------------


def interval(value: float, low: float | None, high: float | None, reason: str = "") -> Interval:
    return Interval(Figure(value, 400), low, high, 0.95, 1000, 1000, 0, reason=reason)


def test_alpha_is_read_by_its_interval_lower_bound():
    reading = ag.interpret(interval(0.81, 0.70, 0.90))
    assert reading.startswith("tentative")
    assert "judged by the lower bound of the 95% interval, .700, α being .810" in reading
    assert ag.interpret(interval(0.90, 0.82, 0.95)).startswith("reliable")
    assert ag.interpret(interval(0.75, 0.60, 0.85)).startswith("not reliable")
    assert ag.interpret(interval(0.95, 0.800, 0.99)).startswith("reliable")
    assert ag.interpret(interval(0.70, -0.12, 0.9)).startswith("not reliable")
    assert "−.120" in ag.interpret(interval(0.70, -0.12, 0.9))


def test_without_an_interval_alpha_is_not_judged():
    reading = ag.interpret(
        interval(0.95, None, None, "only 600 of 1000 resamples gave a defined alpha")
    )
    assert reading.startswith("not judged")
    assert "only 600 of 1000 resamples" in reading and "α is .950" in reading
    # A bare figure is read by its value and says so.
    assert ag.interpret(Figure(0.95, 400)) == "reliable — from the value alone: no interval"
    undefined = Interval(Figure(None, 3, reason="no expected"), None, None, 0.95, 10, 0, 0)
    assert ag.interpret(undefined) == "undefined: no expected"
