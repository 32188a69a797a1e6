"""No workspace shortcut ever types (issue 18, item 3).

In both workspaces a key event that acts is prevented from also typing; a
key typed in a text field is text, except the reviewer's Alt chords, which
never type: Alt+R (the reason field) and Alt+1…9 / Alt+0 (the reason code,
or none), usable while the reason field has the focus (docs/concepts.md).

The trial's path: a disagreement, Shift+1 with no reason is refused and the
focus lands in the reason field; the key the page names there (Alt+R) types
nothing, a reason code is chosen without the mouse, and the reason that
reaches the gold record and the annotator's feedback is exactly what was
typed.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from projects.services import project_config
from review.models import Feedback, GoldRecord
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "Guidelines, rule 2: a leak outweighs speed."


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))


def test_the_reason_keys_never_type_and_codes_come_from_the_keyboard(
    page, make_user, make_project, annotate
):
    lead = make_user("nt-lead")
    project = make_project(lead, name="Never types")
    first, second, reviewer = make_user("nt-ann-a"), make_user("nt-ann-b"), make_user("nt-rev")
    for person in (first, second):
        services.membership_set(project=project, user=person, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    item = annotate(project, (first, "pos"), (second, "neg"), text="It boils fast but leaks.")

    sign_in(page, "nt-rev")
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.locator("#item-text")).to_be_focused()
    reason, code = page.locator("#reason"), page.locator("#reason-code")

    # Each code shows its key beside it, and the key map lists them.
    expect(code.locator("option")).to_have_text(
        [
            "(none) · Alt 0",
            "Guideline gap · Alt 1",
            "Annotator slip · Alt 2",
            "Ambiguous item · Alt 3",
            "Bad or unusable item · Alt 4",
        ]
    )
    page.keyboard.press("?")
    expect(page.locator("#keymap [data-keymap-codes] tr")).to_have_count(5)
    expect(page.locator("#keymap")).to_contain_text("Reason code “Guideline gap”")
    page.keyboard.press("Escape")

    # Shift+1 overrules annotator B without a reason: refused, and the focus
    # is in the reason field, whose hint names Alt+R, not a key that types.
    page.keyboard.press("Shift+Digit1")
    expect(reason).to_be_focused()
    expect(page.locator("label[for=reason] kbd")).to_have_text("Alt R")
    assert not GoldRecord.objects.exists()
    # The refusal's 400, as Chromium reports it: expected here.
    page.problems.errors = [e for e in page.problems.errors if "status of 400" not in e]

    # The named key types nothing there; the reason code comes by Alt+digit,
    # from inside the field, and types nothing either.
    page.keyboard.press("Alt+KeyR")
    expect(reason).to_be_focused()
    expect(reason).to_have_value("")
    page.keyboard.press("Alt+Digit3")
    expect(code).to_have_value("ambiguous_item")
    expect(reason).to_be_focused()
    expect(reason).to_have_value("")
    page.keyboard.type(REASON)
    page.keyboard.press("Alt+Digit1")
    page.keyboard.press("Alt+KeyR")
    expect(code).to_have_value("guideline_gap")
    expect(reason).to_have_value(REASON)
    # A plain key in the field is text, Shift included.
    page.keyboard.press("Shift+R")
    expect(reason).to_have_value(REASON + "R")
    page.keyboard.press("Backspace")
    # Alt+0: no code; then the code again, and out of the field with Esc.
    page.keyboard.press("Alt+Digit0")
    expect(code).to_have_value("")
    page.keyboard.press("Alt+Digit1")
    page.keyboard.press("Escape")
    expect(reason).not_to_be_focused()

    # Outside a text field, Shift+R is no shortcut (it used to be the
    # reason's): nothing moves, nothing is typed anywhere.
    page.keyboard.press("Shift+R")
    expect(reason).not_to_be_focused()
    expect(reason).to_have_value(REASON)

    page.keyboard.press("Shift+Digit1")
    expect(page.locator("#review")).to_contain_text("Nothing left to review")
    gold = GoldRecord.objects.get(item=item)
    assert (gold.value, gold.reason, gold.reason_code) == ("pos", REASON, "guideline_gap")
    assert Feedback.objects.get(annotator=second).annotation.item_id == item.pk


def test_no_annotator_shortcut_types_into_the_skip_reason(page, make_user, make_project):
    lead = make_user("nt-lead2")
    project = make_project(lead, name="Never types either")
    person = make_user("nt-ann")
    services.membership_set(project=project, user=person, roles=["annotator"])
    items_create(
        project=project,
        rows=[ItemRow({"text": f"Text {n}"}) for n in range(3)],
        config=project_config(project).config,
    )
    sign_in(page, "nt-ann")
    page.goto(f"/projects/{project.pk}/annotate/")
    expect(page.locator("#item-text")).to_be_focused()
    # Shift+S opens the skip form with the focus in its reason: the S that
    # opened it is not typed there.
    page.keyboard.press("Shift+S")
    skip_reason = page.locator("#skip-reason")
    expect(skip_reason).to_be_focused()
    expect(skip_reason).to_have_value("")
    # In the field, keys are text, label keys and Shift keys included.
    page.keyboard.type("pSL")
    expect(skip_reason).to_have_value("pSL")
    expect(page.locator("#answer-form input:checked")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(skip_reason).not_to_be_focused()
    assert Item.objects.filter(project=project).count() == 3
