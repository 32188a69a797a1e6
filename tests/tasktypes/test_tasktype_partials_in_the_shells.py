"""A new task type plugs into both workspaces with its own partials and
nothing else: a throwaway type registered here, with templates written here,
renders through the annotator's workspace and the reviewer's (the workspace
shell, annotation/shell.py), its keys in the key map, without a change to
either workspace."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import tasktypes
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from tasktypes.base import AgreementSpec, ConfigImpact, TaskType, TaskTypeError
from tasktypes.templatetags.shell import task_type_scripts

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}

WORKSPACE = """<p class="yn-question">YN-ASK {{ config.question }}: {{ item.data.text }}</p>
<label><input type="radio" name="value" value="yes" data-hotkey="y"{% if "yes" in chosen %} checked{% endif %}> yes</label>
<label><input type="radio" name="value" value="no" data-hotkey="n"{% if "no" in chosen %} checked{% endif %}> no</label>
"""
REVIEW = """<p class="yn-answer">YN-SAID {{ annotation.value }}</p>"""


class Thumbs(TaskType):
    """A throwaway type: answer a question about a text with yes or no."""

    key = "thumbs-test"
    name = "Thumbs (test)"
    workspace_template = "thumbs/workspace.html"
    review_template = "thumbs/review.html"

    def validate_config(self, config: Any) -> dict:
        if not isinstance(config, dict) or not isinstance(config.get("question"), str):
            raise TaskTypeError([{"field": "question", "reason": "is required"}])
        return {"question": config["question"]}

    def config_impact(self, old: dict, new: dict) -> ConfigImpact:
        return ConfigImpact(False)

    def hotkeys(self, config: dict) -> dict[str, str]:
        return {"y": "yes", "n": "no"}

    def validate_item(self, data: Any, config: dict) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise TaskTypeError([{"field": "text", "reason": "is required"}])
        return {"text": data["text"]}

    def validate_value(self, value: Any, config: dict, item_data: dict | None = None) -> Any:
        if value not in ("yes", "no"):
            raise TaskTypeError([{"field": "value", "reason": "must be yes or no"}])
        return value

    def agreement_spec(self, config: dict) -> AgreementSpec:
        return AgreementSpec("alpha", "nominal")

    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        return {"text": item_data["text"], "answer": value}


@pytest.fixture
def thumbs(settings, tmp_path):
    """The type registered, and its two partials on the template path."""
    (tmp_path / "thumbs").mkdir()
    (tmp_path / "thumbs" / "workspace.html").write_text(WORKSPACE)
    (tmp_path / "thumbs" / "review.html").write_text(REVIEW)
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates
    tasktypes.register(Thumbs)
    yield tasktypes.get(Thumbs.key)
    tasktypes.unregister(Thumbs.key)


@pytest.fixture
def thumbs_project(thumbs, lead, annotator, reviewer, make_user):
    project = services.project_create(
        user=lead, name="Thumbs", task_type=Thumbs.key, config={"question": "Spam?"}
    )
    second = make_user("second")
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    services.membership_set(project=project, user=second, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    return project


def test_the_annotators_workspace_shows_the_types_partial(thumbs_project, annotator, web_for):
    project = thumbs_project
    items_create(
        project=project,
        rows=[ItemRow({"text": "buy <now>"})],
        config=services.project_config(project).config,
    )
    web = web_for(annotator)
    body = web.post(f"/projects/{project.pk}/annotate/next/", **HX).content.decode()
    assert "YN-ASK Spam?: buy &lt;now&gt;" in body
    assert f'data-task-type="{Thumbs.key}"' in body
    assert "<kbd>y</kbd>" in body and "<kbd>n</kbd>" in body  # its keys in the key map

    item = Item.objects.get(project=project)
    assignment = item.assignments.get(annotator=annotator)
    answered = web.post(
        f"/projects/{project.pk}/annotate/{assignment.pk}/submit/", {"value": "yes"}, **HX
    )
    assert answered.status_code == 200
    assert "Saved: yes" in answered.content.decode()


def test_the_reviewers_workspace_shows_the_types_partials_side_by_side(
    thumbs_project, annotate, annotator, reviewer, web_for
):
    project = thumbs_project
    second = project.memberships.get(user__username="second").user
    annotate(project, (annotator, "yes"), (second, "no"), text="a disputed text")
    response = web_for(reviewer).post(f"/projects/{project.pk}/review/next/", **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "YN-ASK Spam?: a disputed text" in body  # the gold value is chosen with its partial
    assert "YN-SAID yes" in body and "YN-SAID no" in body  # each annotation, side by side
    assert "<kbd>y</kbd>" in body and "as the gold value" in body


def test_every_types_module_is_loaded_by_the_pages(thumbs):
    # The throwaway type has no module; classification's is there.
    assert task_type_scripts() == ["js/tasktypes/classification.js"]
