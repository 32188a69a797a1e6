"""Inter-annotator agreement coefficients: pure functions over numpy arrays.

Over 500 lines on purpose: the coefficients share one encoding of
reliability data and one coincidence matrix, and are checked together
against the reference libraries (tests/agreement/test_references.py). No
Django here, nor anything of Accord's (an import-linter contract). Every coefficient takes reliability data, returns a
:class:`Figure`, and never turns an undefined figure into 0 or 1.

Reliability data is a *units × coders* matrix (one row per item, one column
per annotator) in one of two forms:

- a numeric ``numpy`` array, ``NaN`` where a coder gave no value (category
  codes for nominal data, numbers for ordinal, interval and ratio data);
- a sequence of rows of arbitrary hashable values, ``None`` (or ``NaN``) where
  a coder gave none; rows may differ in length. Lists become tuples and sets
  become frozensets, so multi-label values can be passed as lists.

:func:`to_matrix` turns rows of labels into the numeric form, with the label
order given for ordinal data. Note that the ``krippendorff`` package takes the
transpose (coders × units).

Honesty rules (see docs/agreement.md):

- an undefined figure (one category only, no expected disagreement, nothing
  pairable) has ``value=None`` and a ``reason``;
- every figure carries ``n``, the units (or spans) behind it, and ``small`` is
  set when ``n`` is below ``small_below`` (30 by default) or, for nominal α,
  when the rarest category has too few values to tell α ≥ .800 at p = .05
  (Krippendorff's sample-size guidance, :func:`units_needed`);
- α with an interval is read by the interval's lower bound (:func:`interpret`);
- Fleiss' κ is computed on complete items only and says how many it dropped.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

SMALL_BELOW = 30
# Krippendorff (2004, p. 241): the smallest α to call data reliable; the
# sample-size guidance asks for enough data to tell α ≥ ALPHA_MIN at this
# level of significance (see units_needed).
ALPHA_MIN = 0.800
SIGNIFICANCE = 0.05
# A bootstrap interval needs this share of its resamples to give a defined α;
# below it the data are too thin for an interval (see alpha_interval).
MIN_DEFINED_SHARE = 0.95

Distance = Callable[[Any, Any], float]
Level = Literal["nominal", "ordinal", "interval", "ratio"]
Span = tuple[int, int, Hashable]

NOTHING_PAIRABLE = "nothing pairable: no unit has values from two coders"
NO_EXPECTED_DISAGREEMENT = (
    "no expected disagreement: every value is the same category, so chance agreement is total"
)
ONE_CATEGORY = "one category only: chance agreement is total, so the coefficient is undefined"


# --- result types ------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One agreement figure.

    ``value`` is None when the figure is undefined, and ``reason`` says why.
    ``n`` counts the units (items, or spans for span scores) behind it;
    ``small`` flags ``n`` below the threshold, or (nominal α) too few values
    of the least frequent category, which ``scarce`` then describes;
    ``dropped`` counts units left out (Fleiss' κ: items without the full
    number of raters).
    """

    value: float | None
    n: int
    reason: str = ""
    small: bool = False
    dropped: int = 0
    scarce: Scarce | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def _short(text: str) -> str:
    # Krippendorff's way of writing a coefficient or a level: .800, .05.
    return text[1:] if text.startswith("0.") else text


def _three(x: float) -> str:
    return ("−" if x < 0 else "") + _short(f"{abs(x):.3f}")


@dataclass(frozen=True)
class Scarce:
    """Too few values of the least frequent category to tell α ≥ ``alpha_min``
    at ``significance`` (see :func:`units_needed`).

    ``values`` of ``category`` among the ``total`` pairable values; the
    figure has ``units`` pairable units where ``units_needed`` are needed at
    that category's share, and those units would hold ``values_needed``
    values of it (at the data's values per unit).
    """

    category: Any
    values: int
    total: int
    units: int
    units_needed: int
    values_needed: int
    alpha_min: float = ALPHA_MIN
    significance: float = SIGNIFICANCE

    @property
    def text(self) -> str:
        verb = "is" if self.values == 1 else "are"
        return (
            f"only {self.values:,} of {self.total:,} values {verb} '{self.category}': at least "
            f"{self.values_needed:,} are needed to tell α ≥ {_three(self.alpha_min)} "
            f"at p = {_short(f'{self.significance:g}')} "
            f"({self.units_needed:,} items at that share)"
        )


def units_needed(
    p_c: float, *, alpha_min: float = ALPHA_MIN, significance: float = SIGNIFICANCE
) -> float:
    """The number of units needed to tell α ≥ ``alpha_min`` at the level
    ``significance`` when the least frequent category has probability ``p_c``:

        N = z² · [(1 + α_min)(3 − α_min) / (4 (1 − α_min) p_c (1 − p_c)) − α_min]

    with z the one-sided normal quantile of 1 − significance (Krippendorff
    2004, Content Analysis, 2nd ed., ch. 11, "sampling considerations",
    after Bloch & Kraemer 1989, Biometrics 45:269–287). It is Bloch and
    Kraemer's large-sample variance of the intraclass κ of binary data (the
    category against the rest, two coders, N units) taken at κ = (1 +
    α_min)/2, halfway between α_min and perfect agreement, and the N that
    puts that κ z standard errors above α_min. With two coders the N units
    hold 2·N·p_c values of the category: about 27 at any small p_c for
    α_min = .800 and p = .05.
    """
    if not 0 < p_c < 1:
        raise ValueError("p_c must be between 0 and 1")
    if not 0 < alpha_min < 1 or not 0 < significance < 0.5:
        raise ValueError("alpha_min must be in (0, 1) and significance in (0, 0.5)")
    z = NormalDist().inv_cdf(1 - significance)
    a = alpha_min
    return z * z * ((1 + a) * (3 - a) / (4 * (1 - a) * p_c * (1 - p_c)) - a)


def _scarce(
    o: np.ndarray, values: Sequence[Any], units: int, alpha_min: float, significance: float
) -> Scarce | None:
    """The least frequent category of the coincidences, when the units are
    fewer than its share needs (see :func:`units_needed`)."""
    n_c = o.sum(axis=1)
    seen = np.flatnonzero(n_c > 0.5)
    if len(seen) < 2:
        return None
    c = int(seen[np.argmin(n_c[seen])])
    total = float(n_c.sum())
    needed = units_needed(n_c[c] / total, alpha_min=alpha_min, significance=significance)
    if units >= needed:
        return None
    category = values[c]
    if isinstance(category, np.generic):
        category = category.item()
    if isinstance(category, float) and category.is_integer():
        category = int(category)
    return Scarce(
        category=category,
        values=round(float(n_c[c])),
        total=round(total),
        units=units,
        units_needed=math.ceil(needed),
        values_needed=math.ceil(needed * n_c[c] / units),
        alpha_min=alpha_min,
        significance=significance,
    )


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval around ``estimate``.

    ``low`` and ``high`` are None (with ``reason``) when the estimate is
    undefined or fewer than ``MIN_DEFINED_SHARE`` of the resamples gave a
    defined coefficient.
    ``n_valid`` counts the resamples that did.
    """

    estimate: Figure
    low: float | None
    high: float | None
    confidence: float
    n_boot: int
    n_valid: int
    seed: int
    method: str = (
        "percentile bootstrap, resampling pairable units with replacement"
        " (drawn as multinomial counts of the units' value patterns)"
    )
    reason: str = ""


@dataclass(frozen=True)
class SpanScores:
    """Span-level precision, recall and F1 of ``b`` against ``a``.

    ``a`` is taken as the reference: precision = matched / |b|, recall =
    matched / |a|, F1 = 2 · matched / (|a| + |b|), which is symmetric.
    """

    precision: Figure
    recall: Figure
    f1: Figure
    matched: int
    n_a: int
    n_b: int


def _figure(
    value: float | None, n: int, small_below: int, reason: str = "", dropped: int = 0
) -> Figure:
    if value is not None:
        value = float(value)
    return Figure(value, int(n), reason, n < small_below, int(dropped))


# --- encoding ----------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Encoded:
    codes: np.ndarray  # units × coders, int64, -1 where missing
    values: list[Any] | np.ndarray  # code → value (sorted when numeric)


def _encode(data: Any, categories: Sequence[Any] | None = None) -> _Encoded:
    """Map reliability data onto integer codes (-1 for missing).

    Numbers are coded in ascending order; other values in ``categories``
    order when given, else sorted when they can be, else by first appearance.
    """
    if categories is None and isinstance(data, np.ndarray) and data.dtype.kind in "fiu":
        return _encode_numeric(np.asarray(data, dtype=float))
    rows = [[None if _is_missing(v) else _hashable(v) for v in row] for row in data]
    width = max((len(r) for r in rows), default=0)
    present = [v for r in rows for v in r if v is not None]
    if categories is None and present and all(_is_number(v) for v in present):
        matrix = np.full((len(rows), width), np.nan)
        for i, row in enumerate(rows):
            matrix[i, : len(row)] = [np.nan if v is None else v for v in row]
        return _encode_numeric(matrix)
    values = [_hashable(c) for c in categories] if categories is not None else _distinct(present)
    index = {v: i for i, v in enumerate(values)}
    unknown = {repr(v) for v in present if v not in index}
    if unknown:
        raise ValueError(f"values not among the categories: {sorted(unknown)}")
    codes = np.full((len(rows), width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        codes[i, : len(row)] = [-1 if v is None else index[v] for v in row]
    return _Encoded(codes, values)


def _distinct(values: list[Any]) -> list[Any]:
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def _encode_numeric(matrix: np.ndarray) -> _Encoded:
    if matrix.ndim != 2:
        raise ValueError("reliability data must be a units × coders matrix")
    mask = ~np.isnan(matrix)
    values, inverse = np.unique(matrix[mask], return_inverse=True)
    codes = np.full(matrix.shape, -1, dtype=np.int64)
    codes[mask] = inverse
    return _Encoded(codes, values)


def to_matrix(
    rows: Iterable[Sequence[Any]], categories: Sequence[Any] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """Rows of labels (None for missing) → a units × coders float matrix of
    category indices (NaN for missing) and the category list.

    Give ``categories`` in their order for ordinal data; otherwise numbers
    keep their numeric order and other labels are sorted. A value outside
    ``categories`` raises ValueError.
    """
    encoded = _encode(list(rows), categories)
    matrix = np.where(encoded.codes >= 0, encoded.codes, np.nan).astype(float)
    values = encoded.values
    return matrix, values.tolist() if isinstance(values, np.ndarray) else list(values)


# --- coincidences ------------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    """Krippendorff's coincidences, kept per pairable unit.

    For unit u with m_u ≥ 2 values and n_uc values of category c, the ordered
    value pairs (c, k) contribute n_uc · (n_uk − [c = k]) / (m_u − 1) to the
    coincidence o_ck (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability", section C). Entries are (unit, cell = c·K + k, weight).
    """

    unit: np.ndarray
    cell: np.ndarray
    weight: np.ndarray
    m: np.ndarray  # values per pairable unit
    k: int
    count: np.ndarray | None = None  # units each pairable row stands for (None: one)

    @property
    def n_units(self) -> int:
        return len(self.m) if self.count is None else round(float(self.count.sum()))

    def coincidences(self, unit_weights: np.ndarray | None = None) -> np.ndarray:
        if unit_weights is None:
            unit_weights = self.count
        w = self.weight if unit_weights is None else self.weight * unit_weights[self.unit]
        return np.bincount(self.cell, weights=w, minlength=self.k * self.k).reshape(self.k, self.k)


def _pairs(codes: np.ndarray, k: int, weights: np.ndarray | None = None) -> _Pairs:
    """Build the per-unit coincidence entries without a loop over units;
    ``weights`` (one per row) says how many units each row stands for."""
    present = codes >= 0
    rows = np.nonzero(present)[0]
    vals = codes[present]
    m_all = np.bincount(rows, minlength=codes.shape[0])
    keep = m_all[rows] >= 2
    rows, vals = rows[keep], vals[keep]
    kk = max(k, 1)
    # distinct (unit, value) entries with their counts, sorted by unit then value
    keys, count = np.unique(rows * kk + vals, return_counts=True)
    e_unit, e_val = keys // kk, keys % kk
    _, start, size = np.unique(e_unit, return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(size)), size)  # pairable-unit index per entry
    reps = size[group]
    left = np.repeat(np.arange(len(keys)), reps)
    offset = np.arange(left.size) - np.repeat(np.cumsum(reps) - reps, reps)
    right = start[group[left]] + offset
    m = m_all[e_unit[start]] if len(start) else np.zeros(0, dtype=np.int64)
    weight = count[left] * (count[right] - (left == right)) / (m[group[left]] - 1)
    nonzero = weight > 0
    return _Pairs(
        unit=group[left][nonzero],
        cell=(e_val[left] * kk + e_val[right])[nonzero],
        weight=weight[nonzero],
        m=m,
        k=kk,
        count=None if weights is None else weights[e_unit[start]].astype(float),
    )


@dataclass(frozen=True)
class _Patterns:
    """The pairable units grouped by pattern: the multiset of values a unit
    holds. α depends on the units only through how many there are of each
    pattern, so a bootstrap resample is a count per pattern."""

    pairs: _Pairs  # coincidence entries of one unit of each pattern
    count: np.ndarray  # units with each pattern
    of_unit: np.ndarray  # the pattern of each pairable unit, in data order


def _patterns(codes: np.ndarray, k: int, weights: np.ndarray | None = None) -> _Patterns:
    pairable = (codes >= 0).sum(axis=1) >= 2
    rows = np.sort(codes[pairable], axis=1)  # -1 (missing) first
    width = rows.shape[1]
    if width and (k + 1) ** width < 2**62:
        # One integer per row (base k + 1) sorts far faster than rows as records.
        key = (rows + 1) @ ((k + 1) ** np.arange(width, dtype=np.int64))
        _, first, of_unit, count = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        distinct = rows[first]
    else:
        distinct, of_unit, count = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    of_unit = of_unit.reshape(-1)
    if weights is not None:
        count = np.bincount(of_unit, weights=weights[pairable], minlength=len(distinct))
        count = count.astype(np.int64)
    return _Patterns(_pairs(distinct, k), count, of_unit)


# --- distances ---------------------------------------------------------------


def masi_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """MASI distance between two label sets: 1 − J · M (Passonneau 2006,
    "Measuring Agreement on Set-valued Items (MASI) for Semantic and Pragmatic
    Annotation", LREC). J is the Jaccard index, M is 1 for identical sets, 2/3
    when one is a subset of the other, 1/3 when they overlap otherwise, 0 when
    disjoint, with the exact fractions (as nltk 3.10.4's ``masi_distance``).
    Two empty sets are identical (0; nltk divides by zero); empty and
    non-empty are disjoint (1).
    """
    sa, sb = set(a), set(b)
    if sa == sb:
        return 0.0
    inter = len(sa & sb)
    if inter == 0:
        return 1.0
    m = 2 / 3 if inter == min(len(sa), len(sb)) else 1 / 3
    return 1.0 - inter / len(sa | sb) * m


def jaccard_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """Jaccard distance 1 − |A ∩ B| / |A ∪ B| (Jaccard 1912); two empty sets
    are identical (0)."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return 0.0 if union == 0 else 1.0 - len(sa & sb) / union


def distance_for(level: str) -> str | Distance:
    """An AgreementSpec level → what :func:`alpha` takes as ``level``."""
    if level in ("nominal", "ordinal", "interval", "ratio"):
        return level
    if level == "masi":
        return masi_distance
    if level == "jaccard":
        return jaccard_distance
    raise ValueError(f"no alpha distance for level {level!r}")


def _delta(level: str | Distance, values: Sequence[Any], n_c: np.ndarray) -> np.ndarray:
    """The squared difference δ²_ck between every two values (Krippendorff 2011,
    section E: nominal, ordinal, interval and ratio metrics)."""
    k = len(n_c)
    if callable(level):
        delta = np.zeros((k, k))
        used = np.flatnonzero(n_c > 0)
        for x, c in enumerate(used):
            for d in used[x + 1 :]:
                delta[c, d] = delta[d, c] = float(level(values[c], values[d]))
        return delta
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        _numeric_values(values, "ordinal")  # labels need their order: see to_matrix
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        between = cum[hi] - cum[lo] + n_c[lo]
        return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    v = _numeric_values(values, level)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        if (v < 0).any():
            raise ValueError("ratio data cannot be negative")
        total = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, ((v[:, None] - v[None, :]) / total) ** 2, 0.0)
    raise ValueError(f"unknown level of measurement {level!r}")


def _numeric_values(values: Sequence[Any], level: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{level} alpha needs numbers or category codes; "
            "to_matrix(rows, categories) codes ordered labels"
        ) from exc


# --- Krippendorff's alpha ----------------------------------------------------


def _alpha_from(o: np.ndarray, delta: np.ndarray) -> float | None:
    """α = 1 − D_o / D_e = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck
    (Krippendorff 2011, section C)."""
    n_c = o.sum(axis=1)
    n = n_c.sum()
    expected = float(n_c @ delta @ n_c)
    if n == 0 or not expected > 0:
        return None
    return 1.0 - (n - 1) * float((o * delta).sum()) / expected


def _prepare(
    data: Any, level: str | Distance, weights: Any = None
) -> tuple[_Encoded, _Pairs, np.ndarray | None]:
    if not callable(level) and level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"unknown level of measurement {level!r}")
    encoded = _encode(data)
    if weights is not None:
        weights = np.asarray(weights)
        if (
            weights.shape != (encoded.codes.shape[0],)
            or weights.dtype.kind not in "iu"
            or (weights < 0).any()
        ):
            raise ValueError("weights must be one whole number ≥ 0 per unit")
        weights = weights.astype(np.int64)
    return encoded, _pairs(encoded.codes, len(encoded.values), weights), weights


def alpha(
    data: Any,
    level: Level | Distance = "nominal",
    *,
    small_below: int = SMALL_BELOW,
    alpha_min: float = ALPHA_MIN,
    significance: float = SIGNIFICANCE,
    weights: Any = None,
) -> Figure:
    """Krippendorff's α over units × coders reliability data with missing values.

    ``level`` is "nominal", "ordinal", "interval" or "ratio", or a distance
    function δ²(a, b) over the values themselves (e.g. :func:`masi_distance`
    on label sets; it is used as the squared difference as is, as nltk does).
    The coincidence matrix is built with numpy (no loop over units); a custom
    distance is called once per pair of distinct values.

    Formulas: Krippendorff, K. (2011). Computing Krippendorff's
    Alpha-Reliability. Annenberg School for Communication, University of
    Pennsylvania; Krippendorff (2004), Content Analysis, 2nd ed., ch. 11.
    ``n`` is the number of pairable units (units with two or more values).
    Nominal α is flagged ``small`` with a :class:`Scarce` when its least
    frequent category has too few values to tell α ≥ ``alpha_min`` at
    ``significance`` (:func:`units_needed`). ``weights``, one whole number
    per row, says how many identical units each row stands for (α and n are
    those of the data with each row repeated that often).
    """
    encoded, pairs, _ = _prepare(data, level, weights)
    return _alpha_figure(pairs, encoded.values, level, small_below, alpha_min, significance)


def _alpha_figure(
    pairs: _Pairs,
    values: Sequence[Any],
    level: str | Distance,
    small_below: int,
    alpha_min: float = ALPHA_MIN,
    significance: float = SIGNIFICANCE,
) -> Figure:
    if pairs.n_units == 0:
        return _figure(None, 0, small_below, NOTHING_PAIRABLE)
    o = pairs.coincidences()
    value = _alpha_from(o, _delta(level, values, o.sum(axis=1)))
    if value is None:
        return _figure(None, pairs.n_units, small_below, NO_EXPECTED_DISAGREEMENT)
    # The guidance is about categories: with ordered or metric values (or a
    # distance over label sets) nearly every value is rare, so it is nominal only.
    scarce = (
        _scarce(o, values, pairs.n_units, alpha_min, significance) if level == "nominal" else None
    )
    figure = _figure(value, pairs.n_units, small_below)
    if scarce is None:
        return figure
    return Figure(figure.value, figure.n, small=True, scarce=scarce)


def alpha_interval(
    data: Any,
    level: Level | Distance = "nominal",
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    small_below: int = SMALL_BELOW,
    alpha_min: float = ALPHA_MIN,
    significance: float = SIGNIFICANCE,
    weights: Any = None,
) -> Interval:
    """A seeded percentile-bootstrap confidence interval for Krippendorff's α.

    Each of ``n_boot`` resamples draws the pairable units with replacement
    (as many as there are) and recomputes α from the resampled coincidences.
    The draw is made as counts per distinct unit pattern (the multiset of
    values a unit holds): one multinomial draw over the patterns, with each
    pattern's share of the units, from ``numpy.random.default_rng(seed)``.
    That is the same distribution as drawing units one by one, because α
    depends on a resample only through those counts; a resample costs the
    number of patterns (55 at most for two coders and ten labels), not the
    number of units. The interval is the
    (1 − confidence)/2 and (1 + confidence)/2 quantiles of the defined
    resampled α (Efron & Tibshirani 1993, An Introduction to the Bootstrap,
    ch. 13). Each replicate is exactly α of the resampled units (the ordinal
    metric is recomputed from the resample's marginals). The same data and
    seed give the same interval. Resamples without expected disagreement
    are dropped and counted; if fewer than ``MIN_DEFINED_SHARE`` of them are
    left, the data are too thin for an interval and none is given.
    ``weights`` as in :func:`alpha`: the interval is that of the data with
    each row repeated that often (the same patterns, the same draws).
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    encoded, pairs, weights = _prepare(data, level, weights)
    values = encoded.values
    estimate = _alpha_figure(pairs, values, level, small_below, alpha_min, significance)
    if estimate.value is None:
        return Interval(estimate, None, None, confidence, n_boot, 0, seed, reason=estimate.reason)
    delta = _delta(level, values, pairs.coincidences().sum(axis=1))
    patterns = _patterns(encoded.codes, len(values), weights)
    units = int(patterns.count.sum())
    share = patterns.count / units
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        # How many of the resample's units fall on each pattern: drawing the
        # units uniformly with replacement gives exactly this multinomial.
        counts = rng.multinomial(units, share).astype(float)
        o = patterns.pairs.coincidences(counts)
        if level == "ordinal":
            delta = _delta(level, values, o.sum(axis=1))
        value = _alpha_from(o, delta)
        if value is not None:
            draws.append(value)
    if len(draws) < max(1, MIN_DEFINED_SHARE * n_boot):
        reason = f"only {len(draws)} of {n_boot} resamples gave a defined alpha"
        return Interval(estimate, None, None, confidence, n_boot, len(draws), seed, reason=reason)
    low, high = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(estimate, float(low), float(high), confidence, n_boot, len(draws), seed)


# --- percent agreement -------------------------------------------------------


def percent_agreement(data: Any, *, small_below: int = SMALL_BELOW) -> Figure:
    """Pairwise percent agreement: for each unit with two or more values, the
    share of its m(m − 1)/2 pairs of values that are equal, averaged over those
    units (each unit weighs the same). With two coders this is the share of
    items on which they agree. This is Fleiss' (1971) P̄ generalised to a
    varying number of values per unit. Not chance-corrected.
    """
    encoded = _encode(data)
    pairs = _pairs(encoded.codes, len(encoded.values))
    if pairs.n_units == 0:
        return _figure(None, 0, small_below, NOTHING_PAIRABLE)
    diagonal = pairs.cell // pairs.k == pairs.cell % pairs.k
    same = np.bincount(
        pairs.unit[diagonal], weights=pairs.weight[diagonal], minlength=pairs.n_units
    )
    # Σ_c n_uc(n_uc − 1)/(m_u − 1) divided by m_u: the unit's agreeing pair share.
    return _figure(float(np.mean(same / pairs.m)), pairs.n_units, small_below)


# --- Cohen's kappa -----------------------------------------------------------


def cohen_kappa(
    a: Sequence[Any] | np.ndarray,
    b: Sequence[Any] | np.ndarray,
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    categories: Sequence[Any] | None = None,
    small_below: int = SMALL_BELOW,
) -> Figure:
    """Cohen's κ between two coders, over the items both coded (pairwise
    deletion of missing values).

    κ = 1 − Σ w_ij p_ij / Σ w_ij p_i· p_·j, with w = 1 − [i = j] unweighted
    (Cohen 1960, Educational and Psychological Measurement 20:37–46), |i − j|
    linear or (i − j)² quadratic over the categories' ranks (Cohen 1968,
    Psychological Bulletin 70:213–220), as scikit-learn's cohen_kappa_score.
    Ranks are positions in ``categories`` when given (do give them for
    weighted κ, so unused categories keep their place), otherwise in the
    sorted observed numbers; weighted κ on labels that are not numbers needs
    ``categories``. ``n`` is the number of items both coded.
    """
    if len(a) != len(b):
        raise ValueError("both coders need a value (or a missing marker) for every item")
    rows = [(x, y) for x, y in zip(a, b, strict=True) if not _is_missing(x) and not _is_missing(y)]
    if not rows:
        return _figure(None, 0, small_below, NOTHING_PAIRABLE)
    encoded = _encode(rows, categories)
    if weights is not None and not isinstance(encoded.values, np.ndarray) and categories is None:
        raise ValueError("weighted kappa on labels needs their order: pass categories")
    k = len(encoded.values)
    codes = encoded.codes
    table = np.bincount(codes[:, 0] * k + codes[:, 1], minlength=k * k).reshape(k, k)
    p = table / table.sum()
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    rank = np.arange(k)
    w = {
        None: 1.0 - np.eye(k),
        "linear": np.abs(rank[:, None] - rank[None, :]).astype(float),
        "quadratic": ((rank[:, None] - rank[None, :]) ** 2).astype(float),
    }[weights]
    chance = float((w * expected).sum())
    if not chance > 0:
        return _figure(None, len(rows), small_below, ONE_CATEGORY)
    return _figure(1.0 - float((w * p).sum()) / chance, len(rows), small_below)


# --- Fleiss' kappa -----------------------------------------------------------


def fleiss_kappa(data: Any, *, raters: int | None = None, small_below: int = SMALL_BELOW) -> Figure:
    """Fleiss' κ over units × coders reliability data (Fleiss 1971, "Measuring
    nominal scale agreement among many raters", Psychological Bulletin
    76:378–382). The coders of an item need not be the same people, but their
    number must be constant: items with a number of values other than
    ``raters`` (default: the largest number any item has) are dropped and
    counted in ``dropped``.
    """
    encoded = _encode(data)
    codes = encoded.codes
    k = len(encoded.values)
    counts = np.zeros((codes.shape[0], max(k, 1)), dtype=np.int64)
    rows, cols = np.nonzero(codes >= 0)
    np.add.at(counts, (rows, codes[rows, cols]), 1)
    return fleiss_kappa_table(counts, raters=raters, small_below=small_below)


def fleiss_kappa_table(
    counts: Any, *, raters: int | None = None, small_below: int = SMALL_BELOW
) -> Figure:
    """Fleiss' κ from a units × categories table of how many raters chose each
    category (the layout of Fleiss 1971 and statsmodels' fleiss_kappa).

    κ = (P̄ − P̄_e) / (1 − P̄_e), P_i = (Σ_j n_ij² − n) / (n(n − 1)),
    P̄_e = Σ_j p_j². Rows whose total is not ``raters`` (default: the largest
    row total) are dropped and counted.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2:
        raise ValueError("counts must be a units × categories table")
    totals = table.sum(axis=1)
    n = int(raters if raters is not None else (totals.max() if len(totals) else 0))
    complete = table[totals == n]
    dropped = len(table) - len(complete)
    if n < 2:
        return _figure(None, 0, small_below, NOTHING_PAIRABLE, dropped)
    if len(complete) == 0:
        return _figure(None, 0, small_below, f"no item has exactly {n} ratings", dropped)
    p_j = complete.sum(axis=0) / (len(complete) * n)
    p_i = ((complete**2).sum(axis=1) - n) / (n * (n - 1))
    chance = float((p_j**2).sum())
    if chance >= 1.0:
        return _figure(None, len(complete), small_below, ONE_CATEGORY, dropped)
    value = (float(p_i.mean()) - chance) / (1.0 - chance)
    return _figure(value, len(complete), small_below, dropped=dropped)


# --- span precision / recall / F1 --------------------------------------------


def _spans(spans: Iterable[Span]) -> list[tuple[int, int, Hashable]]:
    out = []
    for start, end, label in spans:
        if not start < end:
            raise ValueError(f"a span needs start < end, got ({start}, {end})")
        out.append((int(start), int(end), label))
    return out


def _max_matching(adjacent: list[list[int]], n_right: int) -> int:
    """Maximum bipartite matching by augmenting paths (Kuhn 1955)."""
    match_left = [-1] * len(adjacent)
    match_right = [-1] * n_right
    matched = 0
    for root in range(len(adjacent)):
        parent: dict[int, int] = {}
        stack, found = [root], -1
        while stack and found < 0:
            node = stack.pop()
            for r in adjacent[node]:
                if r in parent:
                    continue
                parent[r] = node
                if match_right[r] < 0:
                    found = r
                    break
                stack.append(match_right[r])
        r = found
        while r >= 0:
            node = parent[r]
            previous = match_left[node]
            match_left[node], match_right[r] = r, node
            r = previous if node != root else -1
        matched += found >= 0
    return matched


def _matched(a: list[Span], b: list[Span], match: str) -> int:
    if match == "exact":
        return sum((Counter(a) & Counter(b)).values())
    if match != "overlap":
        raise ValueError("match must be 'exact' or 'overlap'")
    by_label: dict[Hashable, tuple[list[Span], list[Span]]] = defaultdict(lambda: ([], []))
    for span in a:
        by_label[span[2]][0].append(span)
    for span in b:
        by_label[span[2]][1].append(span)
    total = 0
    for left, right in by_label.values():
        adjacent = [
            [j for j, (s2, e2, _) in enumerate(right) if s1 < e2 and s2 < e1] for s1, e1, _ in left
        ]
        total += _max_matching(adjacent, len(right))
    return total


def span_scores(
    a: Iterable[Span],
    b: Iterable[Span],
    *,
    match: Literal["exact", "overlap"] = "exact",
    small_below: int = SMALL_BELOW,
) -> SpanScores:
    """Precision, recall and F1 between two sets of (start, end, label) spans,
    ``a`` as the reference. Offsets are half-open [start, end).

    "exact": same start, end and label. "overlap": same label and ranges that
    share at least one position; each span is matched at most once, and the
    matching is a maximum one (so the count does not depend on order). This
    follows the exact/partial span matching of MUC/CoNLL-style evaluation
    (e.g. Tjong Kim Sang & De Meulder 2003 for exact match).
    """
    return span_scores_many([(a, b)], match=match, small_below=small_below)


def span_scores_many(
    pairs: Iterable[tuple[Iterable[Span], Iterable[Span]]],
    *,
    match: Literal["exact", "overlap"] = "exact",
    small_below: int = SMALL_BELOW,
) -> SpanScores:
    """Micro-averaged span scores over many items: the matches and span counts
    of each (a, b) item pair are added up before dividing. Spans are matched
    only within their own item.
    """
    matched = n_a = n_b = 0
    for a, b in pairs:
        la, lb = _spans(a), _spans(b)
        matched += _matched(la, lb, match)
        n_a, n_b = n_a + len(la), n_b + len(lb)
    precision = _ratio(matched, n_b, small_below, "the second annotator marked no spans")
    recall = _ratio(matched, n_a, small_below, "the reference marked no spans")
    f1 = _ratio(2 * matched, n_a + n_b, small_below, "neither side marked any span")
    return SpanScores(precision, recall, f1, matched, n_a, n_b)


def _ratio(numerator: int, denominator: int, small_below: int, reason: str) -> Figure:
    if denominator == 0:
        return _figure(None, 0, small_below, reason)
    return _figure(numerator / denominator, denominator, small_below)


# --- reading the figures -----------------------------------------------------

# Landis, J. R. & Koch, G. G. (1977). The measurement of observer agreement for
# categorical data. Biometrics 33(1):159–174, p. 165.
_LANDIS_KOCH = (
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
)


def _alpha_reading(value: float) -> str:
    if value >= 0.800:
        return "reliable"
    if value >= 0.667:
        return "tentative: good enough for tentative conclusions only"
    return "not reliable"


def interpret(figure: Figure | Interval | float | None, coefficient: str = "alpha") -> str:
    """A plain-language reading of a figure.

    "alpha": Krippendorff (2004, Content Analysis, 2nd ed., p. 241): α ≥ .800
    reliable; .667 ≤ α < .800 for tentative conclusions only; below .667 not
    reliable. Krippendorff judges by the chance that α is below the minimum,
    so an :class:`Interval` is read by its lower bound (α = .81 with
    [.70, .90] is tentative, not reliable), and an interval that could not be
    computed leaves the figure unjudged. A bare figure is read by its value,
    and the reading says that no interval was behind it. "kappa": Landis &
    Koch (1977). Other coefficients (percent agreement, span F1) have no
    conventional thresholds. A flagged figure says why: too few units, or
    too few values of the least frequent category (:class:`Scarce`).
    """
    interval = figure if isinstance(figure, Interval) else None
    if interval is not None:
        figure = interval.estimate
    value = figure.value if isinstance(figure, Figure) else figure
    if value is None:
        reason = figure.reason if isinstance(figure, Figure) and figure.reason else ""
        return f"undefined: {reason}" if reason else "undefined"
    notes = []
    if coefficient == "alpha" and interval is not None and interval.low is not None:
        reading = _alpha_reading(interval.low)
        share = f"{interval.confidence:.0%}"
        notes.append(
            f"judged by the lower bound of the {share} interval, {_three(interval.low)}, "
            f"α being {_three(value)}"
        )
    elif coefficient == "alpha" and interval is not None:
        reading = "not judged: no interval to tell the chance that α is below .800"
        notes.append(f"{interval.reason}; α is {_three(value)}")
    elif coefficient == "alpha":
        reading = _alpha_reading(value)
        notes.append("from the value alone: no interval")
    elif coefficient == "kappa":
        if value < 0:
            reading = "poor (less than chance agreement)"
        else:
            reading = next((t for limit, t in _LANDIS_KOCH if value <= limit), "almost perfect")
    else:
        reading = "no conventional threshold: read it beside a chance-corrected coefficient"
    if isinstance(figure, Figure) and figure.scarce is not None:
        notes.append(f"{figure.scarce.text}: read with caution")
    elif isinstance(figure, Figure) and figure.small:
        notes.append(f"only {figure.n} units: read with caution")
    return f"{reading} — {'; '.join(notes)}" if notes else reading
