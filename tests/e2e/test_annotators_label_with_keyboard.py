"""Two annotators label ten items each in the browser with the keyboard
only: a label's hotkey, then Enter, which saves and brings the next item
without a page load. Each item ends with exactly two annotations.

On the way: ? opens the key map; a reload mid-item resumes the same item
with the draft on screen; the network drops during a submit and nothing is
lost (the submit lands when the browser is back online); the session ends
mid-item, a sign-in dialog keeps the choice, and the submit then lands
(SECURITY.md E4). No console error or CSP violation on any page, apart from
the browser's own report of the requests the test cut off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation, Assignment
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from projects.services import project_config
from tests.conftest import PASSWORD
from tests.e2e.conftest import watched_page

pytestmark = pytest.mark.django_db(transaction=True)

N_ITEMS = 10
KEYS = {"p": "pos", "n": "neg", "u": "neu"}
ARABIC = "المنتج ممتاز، أنصح به"
# Shown as text on the workspace and the history; the page fixture fails if it runs.
PAYLOAD = '<img src=x onerror="window.__pwned=1"> <b hx-on:click="window.__pwned=1">x</b>'
LONG = "\n".join(f"Line {n}: the delivery was late, the box was open." for n in range(200))
# What Chromium and htmx log for a request that could not be made (offline)
# or that the server refused because the session had ended (401): the
# scenarios below cause exactly these, so only these are forgiven. htmx
# reports every failed request with console.error, naming its target (the
# workspace, a div).
EXPECTED_NETWORK = (
    re.compile(r"^console: Failed to load resource: net::ERR_INTERNET_DISCONNECTED$"),
    re.compile(r"^console: Failed to load resource: the server responded with a status of 401"),
    re.compile(
        r"^console: htmx:(afterRequest|sendError|responseError), \[object HTMLDivElement\]$"
    ),
    re.compile(
        r"^console: Response Status Error Code 401 from /projects/\d+/annotate/\d+/submit/, "
        r"\[object HTMLDivElement\]$"
    ),
)


@pytest.fixture
def second_page(browser, live_server) -> Iterator[object]:
    """Another person's browser: a context of its own, watched like ``page``."""
    with watched_page(browser, live_server) as watched:
        yield watched


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))


def forgive_network_reports(page) -> list[str]:
    """Drop the reports of the requests the test cut off; return them."""
    forgiven = [e for e in page.problems.errors if any(p.search(e) for p in EXPECTED_NETWORK)]
    page.problems.errors = [e for e in page.problems.errors if e not in forgiven]
    return forgiven


def on_screen(page) -> int:
    return int(page.locator("#answer-form").get_attribute("data-assignment"))


def wait_for_next(page, previous: int) -> None:
    """The workspace swapped in another item (or a final state)."""
    expect(page.locator(f'#answer-form[data-assignment="{previous}"]')).to_have_count(0)
    expect(page.locator("#item-text, [data-shell-focus]").first).to_be_focused()


def wait_for_draft(page) -> None:
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")


def label_items(page, username: str, *, twist: dict[int, str]) -> list[int]:
    """Answer every item the queue gives, by keyboard; ``twist`` maps an item's
    position to what happens to it on the way ("reload", "offline", "signout",
    "held")."""
    done = []
    for position in range(N_ITEMS):
        expect(page.locator("#item-text")).to_be_visible()
        assignment = on_screen(page)
        key = "pnu"[position % 3]
        page.keyboard.press(key)
        expect(page.locator(f'#answer-form input[value="{KEYS[key]}"]')).to_be_checked()
        twist_here = twist.get(position)

        if twist_here == "reload":
            wait_for_draft(page)
            page.reload()
            expect(page.locator("#item-text")).to_be_visible()
            assert on_screen(page) == assignment  # the same lease, resumed
            expect(page.locator(f'#answer-form input[value="{KEYS[key]}"]')).to_be_checked()
            page.keyboard.press("Enter")

        elif twist_here == "offline":
            wait_for_draft(page)
            page.context.set_offline(True)
            page.keyboard.press("Enter")
            expect(page.locator("#save-state")).to_have_attribute("data-state", "offline")
            expect(page.locator("#save-state")).to_contain_text("sent again")
            assert on_screen(page) == assignment  # the form is still there
            assert not Annotation.objects.filter(assignment_id=assignment).exists()
            page.context.set_offline(False)  # the online event sends it again

        elif twist_here == "signout":
            wait_for_draft(page)
            page.context.clear_cookies(name="sessionid")
            page.keyboard.press("Enter")
            dialog = page.locator("#relogin")
            expect(dialog).to_be_visible()
            expect(page.locator("#relogin-password")).to_be_focused()
            expect(page.locator("#save-state")).to_have_attribute("data-state", "login")
            # The choice is kept under the dialog, and nothing was saved yet.
            expect(page.locator(f'#answer-form input[value="{KEYS[key]}"]')).to_be_checked()
            assert not Annotation.objects.filter(assignment_id=assignment).exists()
            page.keyboard.type(PASSWORD)
            page.keyboard.press("Enter")
            expect(dialog).to_be_hidden()

        elif twist_here == "held":
            # Enter held down: its repeats (event.repeat), while the submit is
            # on its way and after the next item is on screen, send nothing.
            page.keyboard.down("Enter")
            page.keyboard.down("Enter")
            wait_for_next(page, assignment)
            following = on_screen(page)
            page.keyboard.down("Enter")
            page.keyboard.down("Enter")
            page.keyboard.up("Enter")
            page.wait_for_timeout(500)
            assert on_screen(page) == following
            expect(page.locator("#choices-error")).to_have_count(0)  # not even sent empty
            assert not Annotation.objects.filter(assignment_id=following).exists()

        else:
            page.keyboard.press("Enter")

        wait_for_next(page, assignment)
        annotation = Annotation.objects.get(assignment_id=assignment)
        assert annotation.value == KEYS[key], (username, position)
        expect(page.locator("#messages")).to_contain_text("Saved:")
        done.append(assignment)
    expect(page.locator("#workspace")).to_contain_text("Nothing left for you")
    return done


def test_two_annotators_label_ten_items_with_the_keyboard(
    page, second_page, login, make_user, make_project
):
    lead = make_user("kb-lead")
    project = make_project(lead, name="Keyboard labelling")
    services.guideline_publish(project=project, user=lead, body="# Rules\n\nRead it *all*.")
    first, second = make_user("kb-ann-a"), make_user("kb-ann-b")
    for person in (first, second):
        services.membership_set(project=project, user=person, roles=["annotator"])
    texts = [ARABIC, LONG, PAYLOAD]
    texts += [f"Review {n}: it works as described." for n in range(N_ITEMS - len(texts))]
    items_create(
        project=project,
        rows=[ItemRow({"text": text}) for text in texts],
        config=project_config(project).config,
    )

    # The first annotator opens the Annotate tab; the first item comes at once.
    login("kb-ann-a", PASSWORD)
    page.goto(f"/projects/{project.pk}/")
    page.locator("#tab-annotate").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#item-text")).to_be_focused()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/annotate/$"))
    text = page.locator("#item-text")
    expect(text).to_have_attribute("dir", "auto")
    expect(text).to_have_text(ARABIC)
    expect(page.locator(".ws-guidelines__body em")).to_have_text("all")

    # The key map, from the keyboard, lists the labels' keys too.
    page.keyboard.press("?")
    keymap = page.locator("#keymap")
    expect(keymap).to_be_visible()
    expect(keymap).to_contain_text("Choose “Positive”")
    expect(keymap.locator("[data-keymap-labels] kbd")).to_have_text(["p", "n", "u"])
    page.keyboard.press("Escape")
    expect(keymap).to_be_hidden()

    # Shift+G hides the guidelines and shows them again.
    page.locator("#item-text").focus()
    page.keyboard.press("Shift+G")
    expect(page.locator("#guidelines-panel")).not_to_have_attribute("open", "")
    page.keyboard.press("Shift+G")
    expect(page.locator("#guidelines-panel")).to_have_attribute("open", "")
    page.locator("#item-text").focus()

    # Undo from the keyboard: submit, Shift+U, and the item is back with its
    # answer. On the way, the long text scrolls in its own box, line breaks kept.
    page.keyboard.press("u")
    first = on_screen(page)
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    expect(page.locator("#item-text")).to_have_text(LONG)
    box = page.locator("#item-text")
    assert box.evaluate("e => e.scrollHeight > e.clientHeight + 100")
    assert box.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    page.keyboard.press("Shift+U")
    expect(page.locator(f'#answer-form[data-assignment="{first}"]')).to_have_count(1)
    expect(page.locator('#answer-form input[value="neu"]')).to_be_checked()
    expect(page.locator("#messages")).to_contain_text("was withdrawn")
    expect(page.locator("#item-text")).to_be_focused()
    assert not Annotation.objects.filter(assignment_id=first).exists()

    done_a = label_items(page, "kb-ann-a", twist={3: "reload", 5: "offline"})

    sign_in(second_page, "kb-ann-b")
    second_page.goto(f"/projects/{project.pk}/annotate/")
    done_b = label_items(second_page, "kb-ann-b", twist={4: "signout", 7: "held"})

    # The history lists the payload as text, like the workspace did.
    second_page.goto(f"/projects/{project.pk}/annotate/history/")
    expect(second_page.locator(".ws-history__text", has_text="window.__pwned")).to_have_text(
        PAYLOAD
    )

    # Every item has exactly two annotations, one from each, and was compared.
    assert len(set(done_a)) == len(set(done_b)) == N_ITEMS
    for item in Item.objects.filter(project=project):
        annotators = sorted(
            Annotation.objects.filter(item=item).values_list("annotator__username", flat=True)
        )
        assert annotators == ["kb-ann-a", "kb-ann-b"], item.pk
        assert item.compared_at is not None
    assert Assignment.objects.filter(project=project, state="active").count() == 0

    # Offline for the first annotator, a 401 for the second: reported, and
    # nothing else (the fixtures fail on any other console error).
    assert any("ERR_INTERNET_DISCONNECTED" in e for e in forgive_network_reports(page))
    assert any("status of 401" in e for e in forgive_network_reports(second_page))
