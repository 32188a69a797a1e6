"""Span-level precision, recall and F1, by hand-computed examples."""

from __future__ import annotations

import pytest

from agreement import coefficients as ag

A = [(0, 5, "PER"), (10, 15, "LOC"), (20, 25, "ORG")]
B = [(0, 5, "PER"), (10, 16, "LOC"), (30, 35, "ORG")]


def values(scores: ag.SpanScores) -> tuple:
    return scores.precision.value, scores.recall.value, scores.f1.value


def test_exact_match():
    # Only PER matches exactly: 1 of 3 each way.
    scores = ag.span_scores(A, B)
    assert scores.matched == 1 and (scores.n_a, scores.n_b) == (3, 3)
    assert values(scores) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_overlap_match():
    # PER exact, LOC overlaps (10–15 vs 10–16), ORG 20–25 vs 30–35 does not.
    scores = ag.span_scores(A, B, match="overlap")
    assert scores.matched == 2
    assert values(scores) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_unequal_counts():
    # a: 4 spans, b: 2 spans, 2 exact matches: P = 1, R = 0.5, F1 = 4/6.
    a = [(0, 2, "X"), (3, 4, "X"), (5, 9, "Y"), (10, 12, "Y")]
    b = [(0, 2, "X"), (5, 9, "Y")]
    assert values(ag.span_scores(a, b)) == pytest.approx((1.0, 0.5, 2 / 3))
    assert values(ag.span_scores(b, a)) == pytest.approx((0.5, 1.0, 2 / 3))


def test_overlap_needs_the_same_label():
    assert ag.span_scores([(0, 5, "PER")], [(0, 5, "LOC")], match="overlap").matched == 0
    assert ag.span_scores([(0, 5, "PER")], [(2, 4, "PER")], match="overlap").matched == 1


def test_touching_half_open_spans_do_not_overlap():
    assert ag.span_scores([(0, 5, "X")], [(5, 10, "X")], match="overlap").matched == 0
    assert ag.span_scores([(0, 5, "X")], [(4, 10, "X")], match="overlap").matched == 1


def test_each_span_is_matched_at_most_once():
    # One long span against two short ones inside it: one match only.
    scores = ag.span_scores([(0, 10, "X")], [(0, 4, "X"), (5, 10, "X")], match="overlap")
    assert scores.matched == 1
    assert values(scores) == pytest.approx((0.5, 1.0, 2 / 3))
    # Duplicates count once each in exact matching.
    assert ag.span_scores([(0, 5, "X"), (0, 5, "X")], [(0, 5, "X")]).matched == 1


def test_overlap_matching_is_maximal_whatever_the_order():
    # Greedy in order would pair (0,10)–(2,5) and leave (0,3) unmatched; the
    # maximum matching pairs (0,10)–(8,12) and (0,3)–(2,5).
    a = [(0, 10, "X"), (0, 3, "X")]
    b = [(2, 5, "X"), (8, 12, "X")]
    assert ag.span_scores(a, b, match="overlap").matched == 2
    assert ag.span_scores(list(reversed(a)), b, match="overlap").matched == 2
    # A chain where each a overlaps two b's.
    a = [(0, 4, "X"), (3, 8, "X"), (7, 12, "X")]
    b = [(3, 4, "X"), (0, 1, "X"), (7, 8, "X")]
    assert ag.span_scores(a, b, match="overlap").matched == 3


def test_empty_sets():
    both = ag.span_scores([], [])
    assert values(both) == (None, None, None)
    assert both.precision.reason and both.recall.reason and both.f1.reason

    only_a = ag.span_scores([(0, 5, "X")], [])
    assert only_a.precision.value is None and only_a.precision.reason
    assert only_a.recall.value == 0.0 and only_a.f1.value == 0.0

    only_b = ag.span_scores([], [(0, 5, "X")], match="overlap")
    assert only_b.recall.value is None and only_b.recall.reason
    assert only_b.precision.value == 0.0 and only_b.f1.value == 0.0


def test_micro_average_over_items():
    # Item 1: 1 of 3 exact; item 2: 2 of 2. Spans never match across items.
    items = [
        (A, B),
        ([(0, 3, "X"), (4, 6, "Y")], [(0, 3, "X"), (4, 6, "Y")]),
        ([(100, 105, "Z")], []),
        ([], [(100, 105, "Z")]),
    ]
    scores = ag.span_scores_many(items)
    assert (scores.matched, scores.n_a, scores.n_b) == (3, 6, 6)
    assert values(scores) == pytest.approx((0.5, 0.5, 0.5))
    assert scores.f1.n == 12 and scores.f1.small


def test_bad_spans_are_refused():
    with pytest.raises(ValueError, match="start < end"):
        ag.span_scores([(5, 5, "X")], [])
    with pytest.raises(ValueError, match="match must be"):
        ag.span_scores([(0, 5, "X")], [(0, 5, "X")], match="fuzzy")
