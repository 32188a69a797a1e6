"""The task-type registry keeps its protocol honest with a second, throwaway
type that exercises every hook through the platform's services and API."""

from __future__ import annotations

from typing import Any

import pytest

import tasktypes
from accord.errors import InvalidInput
from annotation.models import Annotation
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from tasktypes.base import (
    AgreementSpec,
    ConfigImpact,
    ConsensusRule,
    ExportNotSupported,
    TaskType,
    TaskTypeError,
)

pytestmark = pytest.mark.django_db


class YesNo(TaskType):
    """A throwaway type: answer a question about a text with yes or no."""

    key = "yesno-test"
    name = "Yes/no (test)"
    workspace_template = "tests/yesno_workspace.html"
    review_template = "tests/yesno_review.html"

    def validate_config(self, config: Any) -> dict:
        if not isinstance(config, dict) or not isinstance(config.get("question"), str):
            raise TaskTypeError([{"field": "question", "reason": "is required"}])
        return {"question": config["question"], "allow_unsure": bool(config.get("allow_unsure"))}

    def config_impact(self, old: dict, new: dict) -> ConfigImpact:
        if old["allow_unsure"] and not new["allow_unsure"]:
            return ConfigImpact(True, ["removes 'unsure'"], affects=lambda v: v == "unsure")
        return ConfigImpact(False, ["changes the question"] if old != new else [])

    def hotkeys(self, config: dict) -> dict[str, str]:
        return {"y": "yes", "n": "no"}

    def validate_item(self, data: Any, config: dict) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise TaskTypeError([{"field": "text", "reason": "is required"}])
        return {"text": data["text"]}

    def validate_value(self, value: Any, config: dict, item_data: dict | None = None) -> Any:
        allowed = {"yes", "no"} | ({"unsure"} if config["allow_unsure"] else set())
        if value not in allowed:
            raise TaskTypeError([{"field": "value", "reason": "must be yes or no"}])
        return value

    def agreement_spec(self, config: dict) -> AgreementSpec:
        return AgreementSpec("alpha", "nominal")

    def agreement_categories(self, value: Any, config: dict) -> list[str]:
        return [value]

    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        return {"text": item_data["text"], "answer": value}


@pytest.fixture
def yesno():
    tasktypes.register(YesNo)
    yield tasktypes.get(YesNo.key)
    tasktypes.unregister(YesNo.key)


def test_builtin_classification_is_discovered():
    assert "classification" in tasktypes.keys()
    assert ("classification", "Text classification") in tasktypes.choices()


def test_unknown_task_type_is_a_lookup_error():
    with pytest.raises(tasktypes.UnknownTaskType):
        tasktypes.get("no-such-type")


def test_registering_two_classes_under_one_key_is_refused(yesno):
    class Other(YesNo):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        tasktypes.register(Other)


def test_a_new_type_works_through_the_api_without_touching_the_platform(yesno, api_for, lead):
    api = api_for(lead)
    bad = api.post(
        "/api/v1/projects/", {"name": "Q", "task_type": YesNo.key, "config": {}}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [{"field": "config.question", "reason": "is required"}]

    created = api.post(
        "/api/v1/projects/",
        {
            "name": "Q",
            "task_type": YesNo.key,
            "config": {"question": "Spam?", "allow_unsure": True},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["config"] == {"question": "Spam?", "allow_unsure": True}


def test_config_impact_hook_drives_the_dry_run(yesno, lead):
    project = services.project_create(
        user=lead, name="Q", task_type=YesNo.key, config={"question": "Spam?", "allow_unsure": True}
    )
    items_create(
        project=project,
        rows=[ItemRow({"text": "a"}), ItemRow({"text": "b"})],
        config=project_config(project),
    )
    item_a, item_b = Item.objects.filter(project=project).order_by("id")
    Annotation.objects.create(
        project=project, item=item_a, annotator=lead, value="unsure", config_version=1
    )
    Annotation.objects.create(
        project=project, item=item_b, annotator=lead, value="yes", config_version=1
    )

    change = services.project_config_update(
        project=project, user=lead, config={"question": "Spam?", "allow_unsure": False}
    )
    assert (
        change.applied,
        change.breaking,
        change.affected_annotations,
        change.total_annotations,
    ) == (
        False,
        True,
        1,
        2,
    )
    confirmed = services.project_config_update(
        project=project,
        user=lead,
        config={"question": "Spam?", "allow_unsure": False},
        confirm=True,
    )
    assert confirmed.applied and confirmed.version == 2
    # Nothing is dropped: both annotations keep the version they were made under.
    assert list(
        Annotation.objects.filter(project=project).values_list("config_version", flat=True)
    ) == [1, 1]


def project_config(project) -> dict:
    return services.project_config(project).config


def test_item_validation_goes_through_the_type(yesno, lead):
    project = services.project_create(
        user=lead, name="Q", task_type=YesNo.key, config={"question": "?"}
    )
    with pytest.raises(InvalidInput) as err:
        items_create(project=project, rows=[ItemRow({"body": "x"})], config=project_config(project))
    assert err.value.errors == [{"field": "text", "reason": "is required"}]
    assert Item.objects.filter(project=project).count() == 0


def test_every_remaining_hook(yesno):
    config = yesno.validate_config({"question": "Spam?"})
    assert yesno.hotkeys(config) == {"y": "yes", "n": "no"}
    assert yesno.validate_value("yes", config) == "yes"
    with pytest.raises(TaskTypeError):
        yesno.validate_value("unsure", config)
    unanimous, majority = ConsensusRule(), ConsensusRule(majority=2)
    assert yesno.consensus(["yes", "yes"], unanimous, config).agreed
    assert not yesno.consensus(["yes", "no"], unanimous, config).agreed
    verdict = yesno.consensus(["yes", "no", "yes"], majority, config)
    assert (verdict.agreed, verdict.value, verdict.support) == (True, "yes", 2)
    assert yesno.merge(["yes", "no"], config) is None
    assert yesno.agreement_spec(config) == AgreementSpec("alpha", "nominal")
    assert yesno.agreement_categories("no", config) == ["no"]
    assert yesno.export_record({"text": "t"}, "yes", config) == {"text": "t", "answer": "yes"}
    assert yesno.display_value("yes", config) == "yes"
    assert yesno.item_text({"text": "t"}) == "t"
    with pytest.raises(ExportNotSupported):
        yesno.chat_messages({"text": "t"}, "yes", config, system="", template="{text}")
    with pytest.raises(ExportNotSupported):
        yesno.preference_pair({"text": "t"}, "yes", config)
