"""Keys typed while the next item loads (issue 18, item 2).

The submit's answer is held back in the network (Playwright holds the
request) while the test types, so "typed while loading" does not depend on
how fast this machine is. The rule the workspace keeps (static/js/
workspace.js, docs/concepts.md): keys typed while a request is in flight are
kept and applied, in order, to the item that answer shows, once it is on
screen; an Enter typed ahead submits that item only if a label key typed
ahead after the previous Enter chose something on it first; otherwise it is
dropped, and the page says so. Nothing typed ahead is applied when the
answer is not a new item (a refusal): the page says that too.

Also measured here: keypress → next item painted, the median over 30 items
(reported; the bound is loose, bench/workspace.py measures properly).
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation
from items.services import ItemRow, items_create
from projects import services
from projects.services import project_config
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

SUBMIT = re.compile(r"/projects/\d+/annotate/\d+/submit/$")
LATENCY_ITEMS = 30
# Loose on purpose: a 2-core machine shared with other test runs. The
# figure itself is bench/workspace.py's (docs/benchmarks.md).
LATENCY_BOUND_MS = 400

# Runs in the page before its scripts: times each Enter to the first frame
# painted after the workspace swapped in another item.
MEASURE = """
window.__latencies = [];
(function () {
  var pressed = null;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.repeat) pressed = e.timeStamp;
  }, true);

  document.addEventListener("htmx:afterSwap", function (e) {
    if (pressed === null || !e.detail.target || e.detail.target.id !== "workspace") return;
    var start = pressed;
    pressed = null;
    requestAnimationFrame(function () {
      setTimeout(function () { window.__latencies.push(performance.now() - start); }, 0);
    });
  });
})();
"""


def make_items(project, n: int, prefix: str = "Review") -> None:
    items_create(
        project=project,
        rows=[ItemRow({"text": f"{prefix} {i}: it works as described."}) for i in range(n)],
        config=project_config(project).config,
    )


@pytest.fixture
def workspace(page, make_user, make_project):
    """An annotator on the Annotate page of a project with 40 items, the
    first item on screen."""
    lead = make_user("fast-lead")
    project = make_project(lead, name="Fast typing")
    person = make_user("fast-ann")
    services.membership_set(project=project, user=person, roles=["annotator"])
    make_items(project, LATENCY_ITEMS + 10)
    page.add_init_script(MEASURE)
    page.goto("/accounts/login/")
    page.fill("#id_username", "fast-ann")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))
    page.goto(f"/projects/{project.pk}/annotate/")
    expect(page.locator("#item-text")).to_be_focused()
    return page


class Held:
    """Holds the workspace's submits in the network until released."""

    def __init__(self, page) -> None:
        self.routes: list = []
        self.page = page
        page.route(SUBMIT, self.hold)

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc) -> None:
        # A request still held would keep the page (and its close) waiting.
        for route in self.routes:
            route.continue_()
        self.page.unroute(SUBMIT)

    def hold(self, route) -> None:
        self.routes.append(route)

    def release(self, page) -> None:
        # The route handler runs while Playwright pumps events: wait for it.
        deadline = time.monotonic() + 10
        while not self.routes:
            assert time.monotonic() < deadline, "the submit never left"
            page.wait_for_timeout(5)
        self.routes.pop(0).continue_()


@pytest.fixture
def held(workspace):
    with Held(workspace) as holding:
        yield holding


def on_screen(page) -> int:
    return int(page.locator("#answer-form").get_attribute("data-assignment"))


def next_item(page, previous: int) -> int:
    expect(page.locator(f'#answer-form[data-assignment="{previous}"]')).to_have_count(0)
    expect(page.locator("#answer-form")).to_have_count(1)
    return on_screen(page)


def test_a_label_key_typed_while_the_next_item_loads_is_applied_to_it(workspace, held):
    page = workspace
    for gap_ms in (20, 80, 150):
        first = on_screen(page)
        page.keyboard.press("p")
        page.keyboard.press("Enter")
        page.wait_for_timeout(gap_ms)
        page.keyboard.press("n")
        # Not on the item being sent: its form still shows what was sent.
        expect(page.locator('#answer-form input[value="pos"]')).to_be_checked()
        held.release(page)
        second = next_item(page, first)
        expect(page.locator('#answer-form input[value="neg"]')).to_be_checked()
        assert Annotation.objects.get(assignment_id=first).value == "pos"
        assert not Annotation.objects.filter(assignment_id=second).exists()
        # The choice is the annotator's, kept like any other: as a draft.
        expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")


def test_a_double_enter_never_submits_the_item_not_yet_seen(workspace, held):
    page = workspace
    first = on_screen(page)
    page.keyboard.press("p")
    page.keyboard.press("Enter")
    page.wait_for_timeout(40)
    page.keyboard.press("Enter")
    held.release(page)
    second = next_item(page, first)
    page.wait_for_timeout(300)
    assert on_screen(page) == second
    assert not Annotation.objects.filter(assignment_id=second).exists()
    # Not dropped silently: the page says why the second Enter did nothing.
    expect(page.locator("#typed-ahead")).to_contain_text("Enter")
    expect(page.locator("#typed-ahead")).to_contain_text("not submitted")
    # A label and Enter typed ahead: the Enter counts, after the label is
    # on the item, which is on screen by then.
    page.keyboard.press("u")
    page.keyboard.press("Enter")
    page.wait_for_timeout(30)
    page.keyboard.press("n")
    page.keyboard.press("Enter")
    held.release(page)
    third = next_item(page, second)
    held.release(page)
    fourth = next_item(page, third)
    assert Annotation.objects.get(assignment_id=second).value == "neu"
    assert Annotation.objects.get(assignment_id=third).value == "neg"
    assert not Annotation.objects.filter(assignment_id=fourth).exists()
    expect(page.locator("#answer-form input:checked")).to_have_count(0)


def test_keys_typed_ahead_are_not_applied_when_no_new_item_comes(workspace, held):
    page = workspace
    first = on_screen(page)
    # Nothing chosen: the server refuses, and the same item comes back.
    page.keyboard.press("Enter")
    page.wait_for_timeout(40)
    page.keyboard.press("n")
    held.release(page)
    expect(page.locator("#choices-error")).to_be_visible()
    assert on_screen(page) == first
    expect(page.locator("#answer-form input:checked")).to_have_count(0)
    expect(page.locator("#typed-ahead")).to_contain_text("not used")
    # The refusal's 400, as Chromium reports it: expected here.
    page.problems.errors = [e for e in page.problems.errors if "status of 400" not in e]


def test_keypress_to_next_item_painted(workspace):
    page = workspace
    page.evaluate("window.__latencies = []")
    for _ in range(LATENCY_ITEMS):
        before = on_screen(page)
        page.keyboard.press("p")
        page.keyboard.press("Enter")
        next_item(page, before)
    page.wait_for_function(f"window.__latencies.length >= {LATENCY_ITEMS}")
    latencies = page.evaluate("window.__latencies")
    median = statistics.median(latencies)
    print(
        f"keypress → next item painted over {len(latencies)} items: median {median:.0f} ms, "
        f"min {min(latencies):.0f}, max {max(latencies):.0f}"
    )
    assert median < LATENCY_BOUND_MS
