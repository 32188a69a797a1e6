"""A reviewer settles two disagreements in the browser with the keyboard
only, and the overruled annotator reads the decision on their feedback page.

Two annotators disagree on two items (made through the queue's services).
The reviewer opens the review page; the first item comes at once with the
focus on its text. ? opens the key map, which lists the label keys and the
accept keys; Shift+G hides and shows the guidelines; Shift+X without a
reason asks for one and sends nothing. On the first item: Alt+R, a
reason, Alt+1 for the reason code, Esc, then Shift+2 accepts annotation
B. On the second: a label's hotkey chooses the gold value, a reason and a code the same way, and Enter resolves. The page then
says nothing is left. The gold records are in the database as decided; the
annotator both decisions overruled signs in and sees "Your answer", "Gold"
and the reason for each. No console error, CSP violation or XSS payload
run on any page.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from projects import services
from review.models import Feedback, GoldRecord, GoldSource
from tests.conftest import PASSWORD
from tests.e2e.conftest import watched_page

pytestmark = pytest.mark.django_db(transaction=True)

FIRST = "The kettle boils fast, but it leaks after a week."
# Shown as text on the review page and the feedback page; the page fixture
# fails if it runs.
SECOND = 'Meh. <img src=x onerror="window.__pwned=1"> It is a kettle.'
REASON_B = "A leak after a week outweighs the speed: see rule 2."
REASON_N = "Indifference with a complaint is negative."


@pytest.fixture
def second_page(browser, live_server) -> Iterator[object]:
    """The annotator's browser: a context of its own, watched like ``page``."""
    with watched_page(browser, live_server) as watched:
        yield watched


def on_screen(page) -> int:
    return int(page.locator("#decision-form").get_attribute("data-review"))


def write_reason(page, text: str, code: int) -> None:
    """Alt+R, the reason, Alt+``code`` (the reason code, chosen from the
    reason field), Esc: the keys go back to the item."""
    page.keyboard.press("Alt+KeyR")
    expect(page.locator("#reason")).to_be_focused()
    page.keyboard.type(text)
    page.keyboard.press(f"Alt+Digit{code}")
    expect(page.locator("#reason")).to_have_value(text)
    page.keyboard.press("Escape")
    expect(page.locator("#reason")).not_to_be_focused()


def test_reviewer_resolves_two_disagreements_with_the_keyboard(
    page, second_page, login, make_user, make_project, annotate
):
    lead = make_user("rv-lead")
    project = make_project(lead, name="Keyboard review")
    services.guideline_publish(project=project, user=lead, body="# Rules\n\n2. A *defect* wins.")
    first, second, reviewer = make_user("rv-ann-a"), make_user("rv-ann-b"), make_user("rv-rev")
    for person in (first, second):
        services.membership_set(project=project, user=person, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    item1 = annotate(project, (first, "pos"), (second, "neg"), text=FIRST)
    item2 = annotate(project, (first, "neu"), (second, "pos"), text=SECOND)

    # The reviewer opens the page; the first item comes at once, focused.
    login("rv-rev", PASSWORD)
    page.goto(f"/projects/{project.pk}/review/")
    text = page.locator("#item-text")
    expect(text).to_be_focused()
    expect(text).to_have_text(FIRST)
    expect(text).to_have_attribute("dir", "auto")
    cards = page.locator(".rv-card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("rv-ann-a")
    expect(cards.nth(0)).to_contain_text("Positive ⚑ disputed")
    expect(cards.nth(1)).to_contain_text("rv-ann-b")
    expect(cards.nth(1)).to_contain_text("Negative ⚑ disputed")
    expect(page.locator(".ws-guidelines__body em")).to_have_text("defect")

    # The key map lists the label keys and the accept keys.
    page.keyboard.press("?")
    keymap = page.locator("#keymap")
    expect(keymap).to_be_visible()
    expect(keymap.locator("[data-keymap-labels] kbd")).to_have_text(["p", "n", "u"])
    expect(keymap.locator("[data-keymap-accept] tr")).to_have_count(2)
    expect(keymap).to_contain_text("Accept annotation 2")
    page.keyboard.press("Escape")
    expect(keymap).to_be_hidden()

    # Shift+G hides the guidelines and shows them again; Shift+X with no
    # reason asks for one first and sends nothing.
    panel_open = "document.getElementById('guidelines-panel').open"
    page.keyboard.press("Shift+G")
    assert page.evaluate(panel_open) is False
    page.keyboard.press("Shift+G")
    assert page.evaluate(panel_open) is True
    expect(page.locator(".ws-guidelines__body")).to_be_focused()
    page.keyboard.press("Shift+X")
    expect(page.locator("#reason")).to_be_focused()
    expect(page.locator("#review-status")).to_contain_text("Write why the item is excluded")
    page.keyboard.press("Escape")
    assert not GoldRecord.objects.exists()

    # Item 1: a reason and a code, then Shift+2 accepts annotation B. The
    # digit is read by its physical key: Shift+2 types "@" here.
    first_review = on_screen(page)
    write_reason(page, REASON_B, code=1)
    page.keyboard.press("Shift+Digit2")
    expect(page.locator(f'#decision-form[data-review="{first_review}"]')).to_have_count(0)
    expect(page.locator("#item-text")).to_be_focused()
    expect(page.locator("#messages")).to_contain_text("gold is Negative")

    # Item 2: a label key chooses the gold value, then a reason, then Enter.
    expect(page.locator("#item-text")).to_have_text(SECOND)
    second_review = on_screen(page)
    page.keyboard.press("n")
    expect(page.locator('#decision-form input[value="neg"]')).to_be_checked()
    expect(page.locator('#decision-form input[value="neg"]')).to_be_focused()
    write_reason(page, REASON_N, code=2)
    expect(page.locator('#decision-form input[value="neg"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f'#decision-form[data-review="{second_review}"]')).to_have_count(0)
    expect(page.locator("#review")).to_contain_text("Nothing left to review")
    expect(page.locator("[data-shell-focus]")).to_be_focused()
    expect(page.locator("#messages")).to_contain_text("gold is Negative")

    gold1, gold2 = GoldRecord.objects.get(item=item1), GoldRecord.objects.get(item=item2)
    assert (gold1.value, gold1.reason, gold1.reason_code) == ("neg", REASON_B, "guideline_gap")
    assert (gold2.value, gold2.reason, gold2.reason_code) == ("neg", REASON_N, "annotator_slip")
    for gold in (gold1, gold2):
        assert gold.source == GoldSource.ADJUDICATED and gold.reviewer_id == reviewer.pk
        assert not gold.excluded
    overruled = sorted(Feedback.objects.values_list("annotator__username", "annotation__item_id"))
    assert overruled == sorted(
        [("rv-ann-a", item1.pk), ("rv-ann-a", item2.pk), ("rv-ann-b", item2.pk)]
    )

    # The annotator both decisions overruled reads them on the feedback page.
    annotator = second_page
    annotator.goto("/accounts/login/")
    annotator.fill("#id_username", "rv-ann-a")
    annotator.fill("#id_password", PASSWORD)
    annotator.click("button[type=submit]")
    annotator.wait_for_url(lambda url: "/accounts/login/" not in url)
    annotator.goto(f"/projects/{project.pk}/feedback/")
    main = annotator.locator("main")
    expect(main).to_contain_text("Your answer")
    expect(main).to_contain_text("Gold")
    expect(main).to_contain_text(REASON_B)
    expect(main).to_contain_text(REASON_N)
    expect(main).to_contain_text("Guideline gap")
    expect(main).to_contain_text(SECOND)
