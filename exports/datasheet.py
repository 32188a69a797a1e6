"""The datasheet of a dataset version: what its records are (counts by
split, label and gold source; excluded records), where they come from
(guideline and config versions, annotators and reviewers), the parameters
asked, and the agreement of the exported items' annotations, computed from
what the job gathered in its one pass over the snapshot (``Read``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

import tasktypes
from agreement.reliability import value_of
from agreement.reports import ReportParams, headline_compute
from projects.models import Project
from projects.services import project_config

from .models import DatasetVersion

# The datasheet's agreement: the agreement report's resamples and seed.
AGREEMENT = ReportParams()


class Ratings:
    """The submitted annotations of the records written, gathered for the
    datasheet's annotators and agreement: each record's values as a unit
    pattern (the JSON texts of its values), counted, and the annotators'
    ids. α depends on the units only through these patterns: a
    million records leave a few dozen, where every annotation's unit and
    value, and the matrices the coefficients build from them, took some
    350 MB at a million."""

    def __init__(self) -> None:
        self.annotators: set[int] = set()
        self.patterns: dict[tuple, int] = {}
        self._pending: tuple[int | None, list, list] = (None, [], [])

    def add(self, annotators: list[int], texts: list[str]) -> None:
        """One record's annotations."""
        self.annotators.update(annotators)
        # In the annotations' order: distinct_units sorts each distinct key
        # once, instead of every record's (a third of this method's time).
        key = tuple(texts)
        patterns = self.patterns
        patterns[key] = patterns.get(key, 0) + 1

    def add_rows(self, rows: list[tuple]) -> None:
        """(item id, annotator, value text) rows sorted by item; an item's
        annotations may go on in the next rows."""
        item, people, texts = self._pending
        for item_id, annotator, text in rows:
            if item_id != item:
                if texts:
                    self.add(people, texts)
                item, people, texts = item_id, [], []
            people.append(annotator)
            texts.append(text)
        self._pending = (item, people, texts)

    def flush(self) -> None:
        """Count the last item of ``add_rows``."""
        _, people, texts = self._pending
        if texts:
            self.add(people, texts)
        self._pending = (None, [], [])

    @property
    def items(self) -> int:
        return sum(self.patterns.values())

    @property
    def annotations(self) -> int:
        return sum(len(key) * n for key, n in self.patterns.items())

    def distinct_units(self) -> tuple[np.ndarray, np.ndarray, list]:
        """The distinct units as a matrix of value codes (NaN where missing),
        how many records each stands for, and the values by code. A value's
        code and the rows' order come from its canonical JSON, so the same
        annotations give the same figure (and bootstrap draws) on both
        databases, whose JSON texts differ."""
        self.flush()
        canonical = {
            text: orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
            for key in self.patterns
            for text in key
        }
        values = sorted(set(canonical.values()))
        index = {value: n for n, value in enumerate(values)}
        code = {text: index[canonical[text]] for text in canonical}
        merged: Counter = Counter()
        for key, n in self.patterns.items():
            merged[tuple(sorted(code[text] for text in key))] += n
        rows = sorted(merged.items(), key=lambda p: (len(p[0]), p[0]))
        width = max((len(key) for key, _ in rows), default=0)
        units = np.full((len(rows), width), np.nan)
        for row, (key, _) in enumerate(rows):
            units[row, : len(key)] = key
        weights = np.array([n for _, n in rows], dtype=np.int64)
        return units, weights, [value_of(text) for text in values]


@dataclass
class Read:
    """What one pass over the snapshot gathered."""

    total: int = 0
    records: int = 0
    assigned: int = 0
    splits: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    by_split: dict[str, Counter] = field(default_factory=dict)
    sources: Counter = field(default_factory=Counter)
    guideline_versions: set = field(default_factory=set)
    config_versions: set = field(default_factory=set)
    reviewers: set = field(default_factory=set)
    annotators: list = field(default_factory=list)
    excluded: int = 0
    ratings: Ratings = field(default_factory=Ratings)


def _agreement(project: Project, read: Read) -> dict:
    """The agreement of this version's records: the project's headline
    coefficient (review.reports.headline_compute, as its agreement report
    computes it, with the report's seeded bootstrap interval) over every
    submitted annotation of the exported items — not the project's latest
    report, which covers other items at another time."""
    config = project_config(project)
    units, weights, values = read.ratings.distinct_units()
    figure = headline_compute(
        tasktypes.get(config.task_type), config.config, units, weights, values, AGREEMENT
    )
    return {
        "computed_on": "the submitted annotations of this version's records",
        **figure,
        "items": read.ratings.items,
        "annotations": read.ratings.annotations,
        "n_boot": AGREEMENT.n_boot,
        "seed": AGREEMENT.seed,
    }


def _people(ids) -> list[dict]:
    users = get_user_model().objects.filter(pk__in=list(ids)).order_by("pk")
    return [{"id": u.pk, "username": u.username} for u in users.only("pk", "username")]


def read_counts(read: Read) -> dict:
    def plain(counter: Counter) -> dict:
        return {
            ("" if k is None else str(k)): v
            for k, v in sorted(counter.items(), key=lambda x: str(x[0]))
        }

    return {
        "splits": dict(sorted(read.splits.items())),
        "labels": plain(read.labels),
        "labels_by_split": {s: plain(c) for s, c in sorted(read.by_split.items())},
    }


def datasheet_build(version: DatasetVersion, project: Project, read: Read) -> dict:
    params = version.params
    return {
        "dataset_version": version.pk,
        "project": {"id": project.pk, "name": project.name, "task_type": project.task_type},
        "format": params["format"],
        "records": read.records,
        "excluded_records": read.excluded,
        "counts": read_counts(read),
        "gold_sources": dict(sorted(read.sources.items())),
        "agreement": _agreement(project, read),
        "guideline_versions": sorted(read.guideline_versions),
        "config_versions": sorted(read.config_versions),
        "annotators": _people(read.annotators),
        "reviewers": _people(read.reviewers),
        "filters": params["filters"],
        "options": params["options"],
        "splits": params["splits"],
        "group_by": params["group_by"],
        "split_seed": project.split_salt,
        "splits_assigned_now": read.assigned,
        "gold_state": version.gold_state,
        "accord_version": settings.ACCORD_VERSION,
        "created_at": timezone.now().isoformat(),
    }
