"""The demo command: random passwords printed once, one project with 300
items, and a second run that changes nothing (SECURITY.md D2)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from accord.management.commands import demo
from items.models import Item
from projects.models import GuidelineVersion, Membership, Project

PASSWORD_LINE = re.compile(r"^\s+(demo-[a-z0-9-]+)\s+(\S+)\s*$", re.MULTILINE)
USERNAMES = {"demo-lead", "demo-annotator1", "demo-annotator2", "demo-reviewer"}


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The default hasher costs ~0.3 s a password; these tests hash dozens.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_demo(*args: str) -> tuple[str, dict[str, str]]:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    text = out.getvalue()
    return text, dict(PASSWORD_LINE.findall(text))


def demo_state() -> dict:
    project = Project.objects.get(name=demo.PROJECT_NAME)
    return {
        "projects": Project.objects.filter(name=demo.PROJECT_NAME).count(),
        "items": Item.objects.filter(project=project).count(),
        "members": sorted(
            Membership.objects.filter(project=project).values_list(
                "user__username", "is_lead", "is_reviewer", "is_annotator"
            )
        ),
        "guidelines": GuidelineVersion.objects.filter(project=project).count(),
    }


@pytest.mark.django_db
def test_demo_creates_everything_once():
    text, passwords = run_demo()
    assert set(passwords) == USERNAMES
    # Random, distinct and long: nothing an attacker could guess from the docs.
    assert len(set(passwords.values())) == 4
    assert all(len(p) >= 20 for p in passwords.values())
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None
    first = demo_state()
    assert first == {
        "projects": 1,
        "items": 300,
        "members": [
            ("demo-annotator1", False, False, True),
            ("demo-annotator2", False, False, True),
            ("demo-lead", True, False, False),
            ("demo-reviewer", False, True, False),
        ],
        "guidelines": 1,
    }

    again, reprinted = run_demo()
    assert "already exists" in again
    assert reprinted == {}  # the passwords are never shown twice
    assert demo_state() == first
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None


@pytest.mark.django_db
def test_reset_passwords_prints_new_ones_and_nothing_else_changes():
    _, old = run_demo()
    before = demo_state()
    _, new = run_demo("--reset-passwords")
    assert set(new) == USERNAMES
    for username in USERNAMES:
        assert new[username] != old[username]
        assert authenticate(username=username, password=old[username]) is None
        assert authenticate(username=username, password=new[username]) is not None
    assert demo_state() == before


def test_the_review_texts_are_the_same_everywhere():
    texts = demo.review_texts()
    assert texts == demo.review_texts()
    assert len(texts) == 300
    assert len({text for _, text in texts}) == 300
