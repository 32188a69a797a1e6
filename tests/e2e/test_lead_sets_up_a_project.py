"""A lead sets up a project in the browser: signs in with the demo command's
password, creates a project with two labels, adds an annotator, and writes
and publishes the first guidelines — checking the page and the database
after each step."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from projects.models import GuidelineVersion, Membership, Project

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOAD = "<img src=x onerror=window.__pwned=1>"


def demo_password(username: str) -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    # "  demo-lead        <password>" under "Demo users (…):"
    match = re.search(rf"^\s+{re.escape(username)}\s+(\S+)\s*$", out.getvalue(), re.M)
    assert match, out.getvalue()
    return match[1]


def test_lead_sets_up_a_project(page, login):
    login("demo-lead", demo_password("demo-lead"))

    # 1. A new project with two labels.
    page.get_by_role("link", name="New project").click()
    page.fill("#id_name", "Spam triage")
    page.fill("#id_description", f"Which messages are spam. {PAYLOAD}")
    expect(page.locator("#id_task_type")).to_have_value("classification")
    page.fill("#id_labels-0-key", "spam")
    page.fill("#id_labels-0-name", "Spam")
    page.fill("#id_labels-0-hotkey", "s")
    page.fill("#id_labels-0-color", "#c62828")
    page.fill("#id_labels-1-key", "ham")
    page.fill("#id_labels-1-name", "Not spam")
    page.fill("#id_labels-1-hotkey", "h")
    page.get_by_role("button", name="Create project").click()

    expect(page.locator("#messages")).to_contain_text(
        "Project “Spam triage” created. You are its lead."
    )
    expect(page.locator("h1")).to_have_text("Spam triage")
    expect(page.locator(".project-head__meta")).to_contain_text("Your roles: Lead")
    expect(page.locator(".label-list")).to_contain_text("Spam")
    expect(page.locator(".label-list")).to_contain_text("Not spam")
    expect(page.locator(".description")).to_contain_text(PAYLOAD)  # shown as text
    project = Project.objects.get(name="Spam triage")
    assert page.url.endswith(f"/projects/{project.pk}/")
    assert [label["key"] for label in project.config_versions.get().config["labels"]] == [
        "spam",
        "ham",
    ]
    lead = get_user_model().objects.get(username="demo-lead")
    assert Membership.objects.get(project=project, user=lead).roles == ["lead"]

    # 2. demo-annotator1 joins as an annotator (the members tab, through htmx).
    page.click("#tab-members")
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/members/$"))
    page.fill("#id_add_username", "demo-annotator1")
    page.check("#id_add_roles input[value='annotator']")
    page.click("#add-member")
    expect(page.locator("#messages")).to_contain_text("demo-annotator1 is a member as annotator.")
    row = page.locator("tr", has=page.locator("th", has_text="demo-annotator1"))
    expect(row.locator("input[value='annotator']")).to_be_checked()
    expect(row.locator("input[value='lead']")).not_to_be_checked()
    annotator = get_user_model().objects.get(username="demo-annotator1")
    assert Membership.objects.get(project=project, user=annotator).roles == ["annotator"]

    # 3. The first guidelines, written in the editor and published with a note.
    page.click("#tab-guidelines")
    expect(page.locator(".empty")).to_contain_text("No guidelines have been published yet.")
    page.get_by_role("link", name="Edit draft").click()
    page.fill(
        "#id_body",
        "# Spam rules\n\nMark **unsolicited ads** as Spam.\n\n- Newsletters you signed up for: Not spam\n",
    )
    page.click("#preview")
    expect(page.locator("#guideline-preview h1")).to_have_text("Spam rules")
    page.fill("#id_note", "First rules")
    page.click("#publish")

    expect(page.locator("#messages")).to_contain_text("Published version 1 of the guidelines.")
    expect(page.locator("#guidelines-heading")).to_contain_text("version 1")
    article = page.locator("article.prose")
    expect(article.locator("h1")).to_have_text("Spam rules")
    expect(article.locator("strong")).to_have_text("unsolicited ads")
    expect(page.locator(".byline")).to_contain_text("by demo-lead — “First rules”")
    version = GuidelineVersion.objects.get(project=project)
    assert (version.number, version.note, version.author) == (1, "First rules", lead)
    assert version.body.startswith("# Spam rules")

    # The project is in the lead's list beside the demo one.
    page.click("text=Projects >> nth=0")
    expect(page.locator("table")).to_contain_text("Spam triage")
    expect(page.locator("table")).to_contain_text("Demo: review sentiment")
