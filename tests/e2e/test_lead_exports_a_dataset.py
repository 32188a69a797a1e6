"""A lead exports gold in the browser: previews the splits (12 records, four
per label, leave validation and test empty at 0.8/0.1/0.1, which is
refused; 0.5/0.25/0.25 fills all three), starts a JSONL export with splits
on the Export tab, watches its progress until a real Celery worker finishes
it, downloads the zip and one split, then exports again after more gold and
compares the two versions."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from playwright.sync_api import expect

from exports.models import DatasetVersion
from projects import services
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_version(page, version_id: int, timeout: float = 60) -> str:
    card = page.locator(f"#version-{version_id}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = card.get_attribute("data-status")
        if status in ("succeeded", "failed", "cancelled"):
            return status
        page.wait_for_timeout(200)
    raise AssertionError(f"version {version_id} did not finish in {timeout} s")


def start_export(page) -> int:
    before = set(DatasetVersion.objects.values_list("pk", flat=True))
    page.get_by_label("Format").select_option("jsonl")
    page.click("#start-export")
    expect(page.locator("#messages")).to_contain_text("started")
    (new,) = set(DatasetVersion.objects.values_list("pk", flat=True)) - before
    return new


def test_lead_exports_and_compares(
    celery_worker, page, login, project, lead, annotator, make_user, annotate
):
    second = make_user("second-annotator")
    services.membership_set(project=project, user=second, roles=["annotator"])
    for n in range(12):
        value = ("pos", "neg", "neu")[n % 3]
        annotate(project, (annotator, value), (second, value), text=f"gold text {n}")
    login(lead.username, PASSWORD)
    page.goto(f"/projects/{project.pk}/")
    page.click("#tab-exports")
    expect(page.locator("#no-versions")).to_be_visible()

    page.get_by_label("Format").select_option("jsonl")
    page.click("#preview-splits")
    expect(page.locator("#split-preview-refused")).to_contain_text(
        "validation would get no records"
    )
    expect(page.locator("#preview-train [data-records]")).to_have_text("12")
    page.get_by_label("Train").fill("0.5")
    page.get_by_label("Validation").fill("0.25")
    page.get_by_label("Test").fill("0.25")
    page.click("#preview-splits")
    expect(page.locator("#preview-validation [data-records]")).to_have_text("3")
    expect(page.locator("#preview-test [data-records]")).to_have_text("3")
    expect(page.locator("#preview-train [data-records]")).to_have_text("6")
    expect(page.locator("#split-preview-refused")).to_have_count(0)
    assert not DatasetVersion.objects.exists()

    first = start_export(page)
    assert wait_for_version(page, first) == "succeeded"
    card = page.locator(f"#version-{first}")
    expect(card).to_contain_text("12 records")
    with page.expect_download() as download:
        page.click(f"#download-{first}")
    with zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read())) as archive:
        names = archive.namelist()
        data = b"".join(
            archive.read(n) for n in names if n.endswith(".jsonl") and "manifest" not in n
        )
    rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    assert len(rows) == 12 and {r["split"] for r in rows} <= {"train", "validation", "test"}
    with page.expect_download() as one:
        card.get_by_role("link", name="train").click()
    assert one.value.suggested_filename.endswith("-train.jsonl")

    for n in range(12, 15):
        annotate(project, (annotator, "pos"), (second, "pos"), text=f"gold text {n}")
    page.reload()
    page.get_by_label("Train").fill("0.5")
    page.get_by_label("Validation").fill("0.25")
    page.get_by_label("Test").fill("0.25")
    second_version = start_export(page)
    assert wait_for_version(page, second_version) == "succeeded"
    page.locator("#compare-a").select_option(str(first))
    page.locator("#compare-b").select_option(str(second_version))
    page.click("#compare-versions")
    expect(page.locator("#compare-added")).to_have_text("3")
    expect(page.locator("#compare-removed")).to_have_text("0")
    expect(page.locator("#compare-moved")).to_have_text("0")
