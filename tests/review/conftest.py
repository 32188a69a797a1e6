"""Fixtures for review: a project with two more annotators and a second
reviewer, and items brought to review through the queue's own services."""

from __future__ import annotations

import pytest

from projects import services


@pytest.fixture
def second(make_user, project):
    """A second annotator, so items reach their overlap of two."""
    person = make_user("second")
    services.membership_set(project=project, user=person, roles=["annotator"])
    return person


@pytest.fixture
def reviewer2(make_user, project):
    person = make_user("reviewer2")
    services.membership_set(project=project, user=person, roles=["reviewer"])
    return person


@pytest.fixture
def disagreement(annotate, annotator, second):
    """An item on which the two annotators disagree (pos vs neg)."""

    def make(project, text: str = "a disputed text", a: str = "pos", b: str = "neg"):
        return annotate(project, (annotator, a), (second, b), text=text)

    return make


@pytest.fixture
def agreement(annotate, annotator, second):
    def make(project, text: str = "an agreed text", value: str = "pos"):
        return annotate(project, (annotator, value), (second, value), text=text)

    return make
