"""A lead imports items in the browser: uploads a JSONL file on the Items
tab, watches the job's progress bar until the import succeeds (a real
Celery worker runs it), then searches the items and sees the matching
ones."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from items.models import Item
from projects.models import Job
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOADS = ["<script>window.__pwned=1</script>", "<img src=x onerror=window.__pwned=1>"]
KITCHEN = ["kettle", "toaster", "blender"]


def jsonl() -> bytes:
    rows = [
        {
            "text": f"Review {n}: the {KITCHEN[n % 3]} works as described.",
            "external_id": f"rev-{n:04d}",
            "meta": {"product": KITCHEN[n % 3]},
        }
        for n in range(3000)
    ]
    rows.append({"text": "المنتج ممتاز، أنصح به", "external_id": "rtl-1", "meta": {"lang": "ar"}})
    rows += [{"text": p, "meta": {"note": p}} for p in PAYLOADS]
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()


def watch_job(page, timeout: float = 30) -> list[tuple[str, str | None, str | None]]:
    """Read the job's card until it says it is finished: (status, value, max)
    of its <progress> at each look."""
    seen = []
    deadline = time.monotonic() + timeout
    card = page.locator("article[data-job-status]")
    while time.monotonic() < deadline:
        status = card.get_attribute("data-job-status")
        bar = card.locator("progress")
        seen.append((status, bar.get_attribute("value"), bar.get_attribute("max")))
        if status in ("succeeded", "failed", "cancelled"):
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"the import did not finish in {timeout} s: {seen[-3:]}")


def test_lead_imports_items(celery_worker, page, login, make_user, make_project):
    lead = make_user("importer")
    project = make_project(lead, name="Kitchen reviews")
    body = jsonl()
    login("importer", PASSWORD)

    page.goto(f"/projects/{project.pk}/")
    page.click("#tab-items")
    expect(page.locator(".empty")).to_contain_text("No items yet.")
    page.click("#import-items")
    expect(page.locator("#id_file_helptext")).to_contain_text("at most 512 MB")
    page.set_input_files(
        "#id_file",
        files=[{"name": "kitchen.jsonl", "mimeType": "application/x-ndjson", "buffer": body}],
    )
    page.click("#start-import")

    # The job's page, its card polling itself every second.
    expect(page.locator("#job-heading")).to_be_visible()
    job = Job.objects.get(project=project)
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/items/imports/{job.pk}/$"))
    expect(page.locator("#messages")).to_contain_text("“kitchen.jsonl” was uploaded")
    seen = watch_job(page)
    status, value, maximum = seen[-1]
    assert status == "succeeded", page.locator("article[data-job-status]").inner_text()
    assert value == maximum == str(len(body))  # the bar is full: every byte read
    assert seen[0][0] in ("queued", "running")  # it was watched, not loaded finished

    card = page.locator(f"#job-{job.pk}")
    expect(card.locator(".job-counts div", has_text="Created").locator("dd")).to_have_text("3003")
    expect(card.locator('[role="status"]')).to_have_text("Done: 3003 items created.")
    expect(card).not_to_have_attribute("hx-trigger", re.compile("."))  # polling stopped
    expect(page.locator("#messages")).to_contain_text(
        "The import of “kitchen.jsonl” succeeded: 3003 items created."
    )
    assert Item.objects.filter(project=project).count() == 3003

    # Search the items: text, then text within a state.
    card.get_by_role("link", name="See the items").click()
    expect(page.locator(".state-filter [aria-current=page]")).to_contain_text("Not archived 3003")
    # From the keyboard: "/" jumps to the search field.
    page.keyboard.press("/")
    expect(page.locator("#id_filter_q")).to_be_focused()
    page.keyboard.type("toaster works")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/items/\?q=toaster(\+|%20)works$"))
    rows = page.locator(".items-table tbody tr")
    expect(rows).to_have_count(50)  # one page of 1000 matches
    texts = rows.locator(".item-text").all_inner_texts()
    assert all("toaster works" in text for text in texts)
    assert rows.first.locator(".item-id").inner_text() == "rev-0001"
    expect(rows.first.locator(".item-meta")).to_contain_text("product: toaster")
    page.click("#next-page")
    expect(rows.first.locator(".item-id")).to_have_text("rev-0151")

    page.fill("#id_filter_q", "المنتج")
    page.press("#id_filter_q", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".item-text")).to_have_attribute("dir", "auto")
    expect(rows.first.locator(".item-text")).to_have_text("المنتج ممتاز، أنصح به")

    # The payloads are listed as text (the page fixture fails if one ran).
    page.fill("#id_filter_q", "window.__pwned")
    page.press("#id_filter_q", "Enter")
    expect(rows).to_have_count(2)
    assert sorted(rows.locator(".item-text").all_inner_texts()) == sorted(PAYLOADS)
