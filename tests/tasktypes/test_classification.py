"""Classification: the config, item and value contract of DESIGN.md."""

from __future__ import annotations

import pytest

import tasktypes
from tasktypes.base import ConsensusRule, TaskTypeError

clf = tasktypes.get("classification")

LABELS = [
    {"key": "pos", "name": "Positive", "hotkey": "p", "color": "#2E7D32", "description": "Happy."},
    {"key": "neg", "name": "Negative"},
]


def errors_of(config) -> list[dict]:
    with pytest.raises(TaskTypeError) as err:
        clf.validate_config(config)
    return err.value.errors


def test_config_normalises_and_keeps_only_given_fields():
    config = clf.validate_config({"labels": LABELS})
    assert config == {
        "multi_label": False,
        "labels": [
            {
                "key": "pos",
                "name": "Positive",
                "hotkey": "p",
                "color": "#2e7d32",
                "description": "Happy.",
            },
            {"key": "neg", "name": "Negative"},
        ],
    }


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    [
        ({"labels": [{"name": "A"}, {"key": "b", "name": "B"}]}, "labels[0].key", "is required"),
        ({"labels": [{"key": "a"}, {"key": "b", "name": "B"}]}, "labels[0].name", "is required"),
        (
            {"labels": [{"key": "a", "name": "A"}, {"key": "a", "name": "B"}]},
            "labels[1].key",
            "duplicate key 'a'",
        ),
        (
            {"labels": [{"key": "a", "name": "A"}, {"key": "b", "name": "a"}]},
            "labels[1].name",
            "duplicate name 'a'",
        ),
        (
            {
                "labels": [
                    {"key": "a", "name": "A", "hotkey": "x"},
                    {"key": "b", "name": "B", "hotkey": "x"},
                ]
            },
            "labels[1].hotkey",
            "duplicate hotkey 'x'",
        ),
        (
            {"labels": [{"key": "a", "name": "A", "hotkey": "?"}, {"key": "b", "name": "B"}]},
            "labels[0].hotkey",
            "'?' is reserved by the workspace",
        ),
        (
            {"labels": [{"key": "a", "name": "A", "hotkey": "enter"}, {"key": "b", "name": "B"}]},
            "labels[0].hotkey",
            "'enter' is reserved by the workspace",
        ),
        (
            {"labels": [{"key": "a", "name": "A", "hotkey": "S"}, {"key": "b", "name": "B"}]},
            "labels[0].hotkey",
            "'S' is reserved by the workspace",
        ),
        (
            {"labels": [{"key": "a", "name": "A", "hotkey": "ab"}, {"key": "b", "name": "B"}]},
            "labels[0].hotkey",
            "must be a single lowercase letter or digit",
        ),
        (
            {"labels": [{"key": "null", "name": "A"}, {"key": "b", "name": "B"}]},
            "labels[0].key",
            "'null' is reserved",
        ),
        (
            {"labels": [{"key": "a b", "name": "A"}, {"key": "b", "name": "B"}]},
            "labels[0].key",
            "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        ),
        (
            {"labels": [{"key": "a", "name": "A", "color": "red"}, {"key": "b", "name": "B"}]},
            "labels[0].color",
            "must be a colour like #2e7d32",
        ),
        (
            {"labels": [{"key": "a", "name": "A", "size": 3}, {"key": "b", "name": "B"}]},
            "labels[0].size",
            "unknown field",
        ),
        ({"labels": []}, "labels", "must be a non-empty list"),
        (
            {"labels": [{"key": "a", "name": "A"}]},
            "labels",
            "a single-label project needs at least two labels",
        ),
        ({"labels": LABELS, "multi_label": "yes"}, "multi_label", "must be true or false"),
        ({"labels": LABELS, "extra": 1}, "extra", "unknown field"),
    ],
)
def test_bad_configs_name_the_field_and_reason(config, field, reason):
    assert {"field": field, "reason": reason} in errors_of(config)


def test_not_an_object():
    assert errors_of(["pos"]) == [{"field": "config", "reason": "must be an object"}]


def test_single_label_values():
    config = clf.validate_config({"labels": LABELS})
    assert clf.validate_value("pos", config) == "pos"
    for bad in ("nope", ["pos"], None, 3, {"key": "pos"}):
        with pytest.raises(TaskTypeError):
            clf.validate_value(bad, config)


def test_multi_label_values_are_canonical():
    config = clf.validate_config({"labels": LABELS, "multi_label": True})
    assert clf.validate_value(["neg", "pos"], config) == ["pos", "neg"]
    assert clf.validate_value([], config) == []
    for bad in ("pos", ["pos", "pos"], ["pos", "zzz"], [1]):
        with pytest.raises(TaskTypeError):
            clf.validate_value(bad, config)


def test_items_are_kept_byte_exact_and_strict():
    config = clf.validate_config({"labels": LABELS})
    text = "  مرحبا 👋🏽\r\n\tcafe\u0301  "
    assert clf.validate_item({"text": text}, config) == {"text": text}
    for data, field in [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": 5}, "text"),
        ({"text": "x", "y": 1}, "y"),
    ]:
        with pytest.raises(TaskTypeError) as err:
            clf.validate_item(data, config)
        assert err.value.errors[0]["field"] == field


def test_consensus_unanimous_and_majority():
    config = clf.validate_config({"labels": LABELS})
    assert clf.consensus(["pos", "pos"], ConsensusRule(), config).value == "pos"
    assert not clf.consensus(["pos", "neg"], ConsensusRule(), config).agreed
    assert clf.consensus(["pos", "neg", "pos"], ConsensusRule(majority=2), config).value == "pos"
    multi = clf.validate_config({"labels": LABELS, "multi_label": True})
    assert clf.consensus([["pos", "neg"], ["pos", "neg"]], ConsensusRule(), multi).agreed
    assert clf.merge([["pos", "neg"], ["pos"]], multi) == ["pos"]


def test_config_impact():
    old = clf.validate_config({"labels": LABELS})
    renamed = clf.validate_config({"labels": [{**LABELS[0], "name": "Good"}, LABELS[1]]})
    impact = clf.config_impact(old, renamed)
    assert not impact.breaking and impact.changes == ["changes the name of label 'pos'"]
    removed = clf.validate_config({"labels": [LABELS[0], {"key": "x", "name": "X"}]})
    impact = clf.config_impact(old, removed)
    assert impact.breaking and impact.affects("neg") and not impact.affects("pos")
    switched = clf.validate_config({"labels": LABELS, "multi_label": True})
    impact = clf.config_impact(old, switched)
    assert impact.breaking and impact.affects is None


def test_export_mappings():
    config = clf.validate_config({"labels": LABELS})
    assert clf.export_record({"text": "t"}, "pos", config) == {"text": "t", "label": "pos"}
    messages = clf.chat_messages(
        {"text": "t"}, "pos", config, system="Classify.", template="{labels}: {text}"
    )
    assert messages == [
        {"role": "system", "content": "Classify."},
        {"role": "user", "content": "pos, neg: t"},
        {"role": "assistant", "content": "pos"},
    ]
    assert clf.agreement_spec(config).level == "nominal"
    assert (
        clf.agreement_spec(clf.validate_config({"labels": LABELS, "multi_label": True})).level
        == "masi"
    )
