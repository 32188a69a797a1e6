"""Agreement reports: every figure a lead reads, computed from the project's
reliability data (agreement/reliability.py) with the coefficients of
agreement/coefficients.py, and stored as one AgreementReport row.

The figures and the honesty rules (DESIGN.md, "Agreement"):

* the project's coefficient (the one its task type names) with a seeded
  bootstrap interval; percent agreement; Fleiss' κ on complete items;
* per label, one label against the rest (α on yes/no data);
* per annotator pair, Cohen's κ on the items both annotated;
* each annotator against gold, on adjudicated and audit items only
  (consensus gold holds the annotator's own label);
* per guideline version, an item whose annotations were made under two
  versions counting as "mixed"; per ISO week of the later submission;
* a confusion matrix between annotators (single-label data);
* every figure with its n, a flag when n is small or (nominal α) the rarest
  category has too few values, saying which, and a reason when it is
  undefined; α with an interval (headline, per label, per version) read by
  the interval's lower bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

import tasktypes
from projects.models import Project
from projects.selectors import config_version

from . import coefficients as coef
from .reliability import JUDGED, NO_VERSION, Reliability

MIXED = -2
MAX_CONFUSION = 40


@dataclass(frozen=True)
class ReportParams:
    n_boot: int = 1000
    n_boot_buckets: int = 200
    confidence: float = 0.95
    seed: int = 0
    small_below: int = coef.SMALL_BELOW

    def as_dict(self) -> dict:
        return asdict(self)


Namer = Callable[[Any], str]


def _named(f: coef.Figure, name_of: Namer | None) -> coef.Figure:
    """The figure with its scarce category under the name a lead reads."""
    if f.scarce is None or name_of is None:
        return f
    return replace(f, scarce=replace(f.scarce, category=name_of(f.scarce.category)))


def _scarce(s: coef.Scarce | None) -> dict[str, Any]:
    if s is None:
        return {}
    return {
        "scarce": {
            "category": s.category,
            "values": s.values,
            "total": s.total,
            "values_needed": s.values_needed,
            "units_needed": s.units_needed,
            "alpha_min": s.alpha_min,
            "significance": s.significance,
            "text": s.text,
        }
    }


def _figure(f: coef.Figure, kind: str = "alpha", name_of: Namer | None = None) -> dict[str, Any]:
    f = _named(f, name_of)
    return {
        "value": f.value,
        "n": f.n,
        "small": f.small,
        "reason": f.reason,
        "reading": coef.interpret(f, kind),
        **({"dropped": f.dropped} if f.dropped else {}),
        **_scarce(f.scarce),
    }


def _interval(i: coef.Interval, name_of: Namer | None = None) -> dict[str, Any]:
    # Read by the interval's lower bound, not the estimate (coef.interpret).
    i = replace(i, estimate=_named(i.estimate, name_of))
    return {
        **_figure(i.estimate),
        "reading": coef.interpret(i),
        "low": i.low,
        "high": i.high,
        "confidence": i.confidence,
        "interval_reason": i.reason,
    }


@dataclass
class _Units:
    """The rows grouped into items: a units × slots matrix of codes."""

    start: np.ndarray  # first row of each unit
    count: np.ndarray  # rows per unit
    unit: np.ndarray  # unit of each row
    slot: np.ndarray  # position of each row within its unit
    codes: np.ndarray  # units × width, float codes, NaN where missing
    people: np.ndarray  # units × width, annotator index, -1 where missing


def _units(data: Reliability) -> _Units:
    n = data.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Units(empty, empty, empty, empty, np.zeros((0, 0)), np.zeros((0, 0), int))
    first = np.concatenate([[True], data.item[1:] != data.item[:-1]])
    start = np.flatnonzero(first)
    count = np.diff(np.append(start, n))
    unit = np.cumsum(first) - 1
    slot = np.arange(n) - start[unit]
    width = int(count.max())
    codes = np.full((len(start), width), np.nan)
    codes[unit, slot] = data.code
    people = np.full((len(start), width), -1, dtype=np.int64)
    people[unit, slot] = data.annotator
    return _Units(start, count, unit, slot, codes, people)


class _Level:
    """What α takes as its level for the task type: a named level, or a
    distance over the values behind the codes (MASI for label sets)."""

    def __init__(self, spec_level: str, values: list) -> None:
        level = coef.distance_for(spec_level)
        if callable(level):
            sets = [frozenset(v) if isinstance(v, tuple) else frozenset([v]) for v in values]
            self.level = lambda a, b: level(sets[int(a)], sets[int(b)])
        else:
            self.level = level


def _categories(task_type, config: dict, values: list) -> tuple[list[str], np.ndarray]:
    """The labels of the schema (and any other category seen), and a
    membership table code × label."""
    labels = [label["key"] for label in config.get("labels", [])]
    seen = [str(c) for v in values for c in task_type.agreement_categories(_plain(v), config)]
    labels += [c for c in dict.fromkeys(seen) if c not in labels]
    index = {label: i for i, label in enumerate(labels)}
    member = np.zeros((len(values), len(labels)), dtype=bool)
    for code, value in enumerate(values):
        for c in task_type.agreement_categories(_plain(value), config):
            member[code, index[str(c)]] = True
    return labels, member


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _distinct_units(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The units × slots matrix as its distinct units (values sorted within a
    unit: which slot holds a value means nothing to α) and how many units
    each stands for. Two annotators and ten labels make at most 65 of them,
    so a figure per label costs that many rows, not the project's items."""
    filled = np.sort(np.where(np.isnan(codes), -1, codes), axis=1).astype(np.int64)
    width = filled.shape[1]
    base = int(filled.max(initial=0)) + 2
    if width and base**width < 2**62:
        # One integer per unit sorts far faster than units as records.
        key = (filled + 1) @ (base ** np.arange(width, dtype=np.int64))
        _, first, count = np.unique(key, return_index=True, return_counts=True)
        rows = filled[first]
    else:
        rows, count = np.unique(filled, axis=0, return_counts=True)
    return np.where(rows < 0, np.nan, rows.astype(float)), count


def _per_label(u: _Units, labels, member, names, params) -> list[dict]:
    rows, count = _distinct_units(u.codes)
    present = ~np.isnan(rows)
    codes = np.where(present, rows, 0).astype(np.int64)
    out = []
    for i, label in enumerate(labels):
        binary = np.where(present, member[codes, i].astype(float), np.nan)
        name = names.get(label, label)
        figure = coef.alpha_interval(
            binary, "nominal", n_boot=params.n_boot_buckets, confidence=params.confidence,
            seed=params.seed, small_below=params.small_below, weights=count,
        )  # fmt: skip
        yes_no = {1: name, 0: f"not {name}"}.get
        out.append({"label": label, "name": name, **_interval(figure, yes_no)})
    # Worst first; undefined figures last.
    return sorted(out, key=lambda r: (r["value"] is None, r["value"] or 0.0))


def _pair_rows(u: _Units) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of annotations on one item: (annotator a < b, code a, code b)."""
    width = u.codes.shape[1]
    lo, hi, ca, cb = [], [], [], []
    for i in range(width):
        for j in range(i + 1, width):
            both = (u.people[:, i] >= 0) & (u.people[:, j] >= 0)
            pa, pb = u.people[both, i], u.people[both, j]
            xa, xb = u.codes[both, i].astype(np.int64), u.codes[both, j].astype(np.int64)
            swap = pa > pb
            lo.append(np.where(swap, pb, pa))
            hi.append(np.where(swap, pa, pb))
            ca.append(np.where(swap, xb, xa))
            cb.append(np.where(swap, xa, xb))
    if not lo:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(x) for x in (lo, hi, ca, cb))


def _per_pair(u: _Units, data: Reliability, params) -> list[dict]:
    lo, hi, ca, cb = _pair_rows(u)
    if not len(lo):
        return []
    k = len(data.values)
    key = lo * len(data.annotators) + hi
    order = np.argsort(key, kind="stable")
    key, ca, cb = key[order], ca[order], cb[order]
    bounds = np.flatnonzero(np.diff(key)) + 1
    out = []
    for part_key, a, b in zip(
        key[np.concatenate([[0], bounds])], np.split(ca, bounds), np.split(cb, bounds), strict=True
    ):
        figure = coef.cohen_kappa(a, b, categories=range(k), small_below=params.small_below)
        first, second = divmod(int(part_key), len(data.annotators))
        out.append(
            {
                "a": data.annotators[first],
                "b": data.annotators[second],
                "agreement": float(np.mean(a == b)),
                **_figure(figure, "kappa"),
            }
        )
    return out


def _against_gold(data: Reliability, params) -> list[dict]:
    judged = np.isin(data.gold_source, JUDGED) & (data.gold >= 0)
    k = len(data.values)
    out = []
    for index, user_id in enumerate(data.annotators):
        mine = judged & (data.annotator == index)
        a, g = data.code[mine], data.gold[mine]
        n = int(mine.sum())
        accuracy = coef.Figure(
            float(np.mean(a == g)) if n else None,
            n,
            "" if n else "no adjudicated or audit item with this annotator",
            n < params.small_below,
        )
        kappa = coef.cohen_kappa(a, g, categories=range(k), small_below=params.small_below)
        out.append(
            {
                "annotator": user_id,
                "accuracy": _figure(accuracy, "agreement"),
                "kappa": _figure(kappa, "kappa"),
            }
        )
    return out


def _unit_reduce(u: _Units, row_values: np.ndarray, how) -> np.ndarray:
    if not len(u.start):
        return np.zeros(0, dtype=row_values.dtype)
    return how.reduceat(row_values, u.start)


def _by_bucket(
    u: _Units, buckets: np.ndarray, level, params, name_of: Namer, *, interval: bool
) -> list[tuple[int, dict]]:
    out = []
    for bucket in np.unique(buckets).tolist():
        rows = u.codes[buckets == bucket]
        if interval:
            figure = _interval(
                coef.alpha_interval(
                    rows, level, n_boot=params.n_boot_buckets, confidence=params.confidence,
                    seed=params.seed, small_below=params.small_below,
                ),
                name_of,
            )  # fmt: skip
        else:
            figure = _figure(
                coef.alpha(rows, level, small_below=params.small_below), "alpha", name_of
            )
        out.append((bucket, figure))
    return out


def _per_version(u: _Units, data: Reliability, level, params, name_of: Namer) -> list[dict]:
    low = _unit_reduce(u, data.version, np.minimum)
    high = _unit_reduce(u, data.version, np.maximum)
    bucket = np.where(low == high, low, MIXED)
    names = {MIXED: "mixed", NO_VERSION: "none"}
    return [
        {"version": names.get(b, str(b)), **fig}
        for b, fig in _by_bucket(u, bucket, level, params, name_of, interval=True)
    ]


def _per_week(u: _Units, data: Reliability, level, params, name_of: Namer) -> list[dict]:
    # The week of the later submission: week keys grow with time.
    week = _unit_reduce(u, data.week, np.maximum)
    return [
        {"week": f"{b // 100}-W{b % 100:02d}", **fig}
        for b, fig in _by_bucket(u, week, level, params, name_of, interval=False)
    ]


def _confusion(u: _Units, data: Reliability, display) -> dict[str, Any]:
    if any(isinstance(v, tuple) for v in data.values):
        return {
            "labels": [],
            "matrix": [],
            "reason": "multi-label values: read the per-label figures",
        }
    if len(data.values) > MAX_CONFUSION:
        return {"labels": [], "matrix": [], "reason": f"more than {MAX_CONFUSION} distinct values"}
    _, _, ca, cb = _pair_rows(u)
    k = len(data.values)
    table = np.bincount(ca * k + cb, minlength=k * k).reshape(k, k)
    table = table + table.T  # each pair counts in both orders: the matrix is symmetric
    order = sorted(range(k), key=lambda c: str(data.values[c]))
    return {
        "labels": [display(data.values[c]) for c in order],
        "keys": [data.values[c] for c in order],
        "matrix": table[np.ix_(order, order)].tolist(),
        "reason": "",
    }


def _not_computed(spec) -> dict[str, Any]:
    return {"value": None, "n": 0, "small": True, "reading": "undefined",
            "reason": f"{spec.coefficient} is not computed by this report yet"}  # fmt: skip


def _namer(task_type, config: dict, values: list) -> Namer:
    def name_of(code) -> str:
        return str(task_type.display_value(_plain(values[int(code)]), config))

    return name_of


def _headline(codes: np.ndarray, level, params: ReportParams, name_of: Namer, weights=None):
    """α over the units with its seeded bootstrap interval."""
    return _interval(
        coef.alpha_interval(
            codes, level, n_boot=params.n_boot, confidence=params.confidence,
            seed=params.seed, small_below=params.small_below, weights=weights,
        ),
        name_of,
    )  # fmt: skip


def headline_compute(
    task_type, config: dict, units: np.ndarray, weights: np.ndarray, values: list,
    params: ReportParams,
) -> dict[str, Any]:  # fmt: skip
    """The report's headline figure alone, over units gathered elsewhere (an
    export's records): ``units`` a units × slots matrix of codes into
    ``values`` (NaN where missing), each row standing for ``weights`` units
    (an export passes its distinct units: a few dozen rows for a million
    records). The task type's coefficient with its n, reading and interval."""
    spec = task_type.agreement_spec(config)
    out: dict[str, Any] = {"coefficient": spec.coefficient, "level": spec.level}
    if spec.coefficient != "alpha":
        return {**out, **_not_computed(spec)}
    level = _Level(spec.level, values).level
    return {**out, **_headline(units, level, params, _namer(task_type, config, values), weights)}


def compute_report(
    project: Project,
    data: Reliability,
    params: ReportParams,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready data."""
    step = progress or (lambda _name: None)
    row = config_version(project.pk, project.config_version)
    task_type, config = tasktypes.get(row.task_type), row.config
    spec = task_type.agreement_spec(config)
    names = {label["key"]: label["name"] for label in config.get("labels", [])}
    u = _units(data)
    result: dict[str, Any] = {
        "coefficient": spec.coefficient,
        "level": spec.level,
        "note": spec.note,
        "n": {
            "annotations": data.size,
            "items": len(u.start),
            "pairable_items": int((u.count >= 2).sum()),
            "single_annotation_items": int((u.count == 1).sum()),
            "annotators": len(data.annotators),
        },
    }
    if spec.coefficient != "alpha":
        result["headline"] = _not_computed(spec)
        return result
    level = _Level(spec.level, data.values).level
    name_of = _namer(task_type, config, data.values)
    result["headline"] = _headline(u.codes, level, params, name_of)
    step("headline")
    result["percent_agreement"] = _figure(
        coef.percent_agreement(u.codes, small_below=params.small_below), "agreement"
    )
    result["fleiss_kappa"] = _figure(
        coef.fleiss_kappa(u.codes, raters=project.overlap, small_below=params.small_below), "kappa"
    )
    labels, member = _categories(task_type, config, data.values)
    result["per_label"] = _per_label(u, labels, member, names, params)
    step("per label")
    result["pairs"] = _per_pair(u, data, params)
    step("pairs")
    result["against_gold"] = _against_gold(data, params)
    result["per_version"] = _per_version(u, data, level, params, name_of)
    step("per version")
    result["per_week"] = _per_week(u, data, level, params, name_of)
    result["confusion"] = _confusion(u, data, lambda v: task_type.display_value(_plain(v), config))
    step("confusion")
    return result
