"""Preference pairs come from the task type's preference_pair; a task type
without one (classification) is not offered the format."""

from __future__ import annotations

from typing import Any

import pytest

from exports import formats
from tasktypes.base import ExportNotSupported, TaskType

from .helpers import CLASSIFICATION, gold, json_lines, write


class Pairwise(TaskType):
    """A throwaway pairwise type: two responses to a prompt, the value says
    which one is better."""

    key = "pairwise-test"
    name = "Pairwise (test)"
    item_fields = ("prompt", "a", "b")

    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        return {**item_data, "choice": value["choice"]}

    def preference_pair(self, item_data: dict, value: Any, config: dict) -> dict:
        if value["choice"] == "tie":
            raise ExportNotSupported("a tie has no chosen response")
        better, worse = ("a", "b") if value["choice"] == "a" else ("b", "a")
        return {
            "prompt": item_data["prompt"],
            "chosen": item_data[better],
            "rejected": item_data[worse],
            "margin": value.get("strength"),
        }


class ChatOnly(TaskType):
    key = "chat-only-test"
    name = "Chat only (test)"

    def chat_messages(
        self, item_data: dict, value: Any, config: dict, *, system: str, template: str
    ) -> list[dict]:
        raise ExportNotSupported("not for this config")


def pair_row(item_id: int, choice: str):
    data = {"prompt": f"Question {item_id}?", "a": "Answer A ✓", "b": "Answer B"}
    return gold(item_id, "", {"choice": choice, "strength": 2}, data=data)


def test_preference_lines_hold_prompt_chosen_rejected_only() -> None:
    rows = [pair_row(1, "a"), pair_row(2, "b")]
    lines = json_lines(write("preference", rows, {}, task_type=Pairwise()))
    assert lines == [
        {"prompt": "Question 1?", "chosen": "Answer A ✓", "rejected": "Answer B"},
        {"prompt": "Question 2?", "chosen": "Answer B", "rejected": "Answer A ✓"},
    ]
    assert write("preference", rows, {}, task_type=Pairwise()) == write(
        "preference", rows[::-1][::-1], {}, task_type=Pairwise()
    )


def test_supports_follows_the_task_type() -> None:
    preference = formats.get("preference")
    assert preference.supports(Pairwise())
    assert not preference.supports(CLASSIFICATION)
    assert not formats.get("chat").supports(ChatOnly())
    assert not formats.get("chat").supports(Pairwise())


def test_a_row_without_a_pair_fails_the_export() -> None:
    with pytest.raises(ExportNotSupported):
        write("preference", [pair_row(1, "tie")], {}, task_type=Pairwise())
    with pytest.raises(ExportNotSupported):
        write("preference", [gold(1, "x", "pos")], {})
