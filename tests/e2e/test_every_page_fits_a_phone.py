"""Every page of the app fits a 390 px wide screen: no horizontal scroll of
the page itself (``document.documentElement.scrollWidth <= 390``). A wide
table may scroll inside its own container.

One project with realistic content (long label names, a long unbroken URL
in an item's text, external ids, reason codes, two guideline versions,
consensus and adjudicated gold, an item still in review, an agreement
report, an import job, two exports) is opened by its lead, reviewer and
annotator and by someone signed out, each on every page of the URL conf
they may see (tests/security/route_matrix.py lists the pages). The test
fails on a page that overflows, naming the elements that stick out, and on
a page nobody opened, so a new page is measured too.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from agreement.reports import ReportParams
from agreement.services import report_run
from items import importer
from projects import services
from projects.jobs import job_create, run_job
from review import gold as gold_service
from review import leases
from review.models import GoldRecord
from tests.conftest import PASSWORD
from tests.datasets.exporting import export_now
from tests.e2e.conftest import watched_page
from tests.security.route_matrix import MATRIX, collect_routes

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()
WIDTH = 390
NOT_PAGES = {
    "healthz": "a plain-text probe, not a page",
    "readyz": "a plain-text probe, not a page",
}
LABELS = {
    "multi_label": False,
    "labels": [
        {"key": "billing", "name": "Billing and payments", "hotkey": "b", "color": "#1565c0",
         "description": "Charges, refunds, invoices, failed card payments and subscription changes."},
        {"key": "bug", "name": "Software defect report", "hotkey": "d", "color": "#c62828"},
        {"key": "question", "name": "How-to question", "hotkey": "q"},
        {"key": "account", "name": "Account access and security", "hotkey": "a"},
    ],
}  # fmt: skip
TEXTS = [
    "I was charged twice for the annual plan on 2024-03-02; please refund the second charge.",
    "The export button does nothing in Firefox 124 on Windows 11, console shows a TypeError.",
    "How do I invite a colleague as a reviewer without giving them access to billing?",
    "Locked out after enabling two-factor authentication; the recovery codes do not work.",
    "Crash log: https://status.example.com/incidents/2024/03/04/api-gateway-timeouts-in-eu-west-"
    "1-affecting-webhooks-and-exports?ref=support_ticket_8842913&utm_source=email_digest",
    "Invoice INV-2024-00042 lists the wrong VAT number; the correct one is DE123456789.",
]
GUIDELINES = (
    "# Support ticket triage\n\nChoose the label for the customer's **main** request.\n\n"
    "| situation | label |\n| --- | --- |\n| money moved or should move | Billing and payments |\n"
    "| the product misbehaves | Software defect report |\n\n"
    "Long links such as https://docs.example.com/guidelines/support/triage/edge-cases/"
    "multiple-requests-in-one-ticket count as text."
)


def _world(make_user, make_project, annotate) -> dict:
    lead = make_user("phone-lead")
    project = make_project(
        lead,
        name="Customer support tickets, spring 2024 (EU and North America)",
        config=LABELS,
        reason_codes=[
            {"key": "guideline_gap", "name": "Guideline gap"},
            {"key": "annotator_slip", "name": "Annotator slip"},
        ],
    )
    services.guideline_publish(project=project, user=lead, body=GUIDELINES)
    services.guideline_publish(
        project=project, user=lead, body=GUIDELINES + "\n\nA refund request is billing."
    )
    one, two, reviewer = make_user("phone-ann"), make_user("phone-ann2"), make_user("phone-rev")
    for person in (one, two):
        services.membership_set(project=project, user=person, roles=["annotator"])
    services.membership_set(project=project, user=reviewer, roles=["reviewer"])
    # Consensus gold, a disagreement the reviewer settles, one left in review.
    annotate(project, (one, "billing"), (two, "billing"), text=TEXTS[0])
    annotate(project, (one, "bug"), (two, "bug"), text=TEXTS[1])
    settled = annotate(project, (one, "question"), (two, "account"), text=TEXTS[2])
    annotate(project, (one, "account"), (two, "bug"), text=TEXTS[3])
    claim = leases.review_claim(project=project, user=reviewer)
    gold_service.review_resolve(
        review=claim.review,
        user=reviewer,
        value="question",
        reason="The customer asks how to do it; nothing is broken (rule 3 of the guidelines).",
        reason_code="guideline_gap",
    )
    assert claim.review.item_id == settled.pk
    # Items the annotator has not seen, one with a long unbroken URL, by a
    # real import job (its page lists them).
    name = default_storage.save(
        f"imports/{project.pk}/phone.jsonl",
        ContentFile(
            "\n".join(
                json.dumps({"text": t, "external_id": f"ticket-2024-{n:06d}"})
                for n, t in enumerate(TEXTS[4:] * 3)
            ).encode()
        ),
    )
    options = importer.ImportOptions.parse({"partial": True}, filename="phone.jsonl")
    job = job_create(
        project=project,
        kind=importer.KIND,
        user=lead,
        params={
            "file": name,
            "filename": "support-tickets-2024-03.jsonl",
            "options": asdict(options),
        },
    )
    run_job(job.pk, importer.import_run)
    report = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=50).as_dict()
    )
    run_job(report.pk, report_run)
    first = export_now(project, lead)
    second = export_now(project, lead, format="csv")
    token, _ = services.invite_create(
        project=project, email="new.colleague@example.com", roles=["annotator"], user=lead
    )
    gold = GoldRecord.objects.filter(project=project, reviewer__isnull=False).first()
    return {
        "project": project,
        "kwargs": {
            "project_id": project.pk,
            "gold_id": gold.pk,
            "item_id": gold.item_id,
            "job_id": job.pk,
            "number": 2,
            "export_id": first.pk,
            "token": token,
        },
        "query": {
            "projects:guideline_diff": "?from=1&to=2",
            "datasets:export_compare": f"?a={first.pk}&b={second.pk}",
        },
    }


OVERFLOW = """(width) => {
  // The outermost elements that stick out of the screen, leaving out what a
  // container that fits clips or scrolls.
  const out = [];
  const sticksOut = (el) => el.getBoundingClientRect().right > width + 0.5;
  for (const el of document.querySelectorAll('body *')) {
    if (!sticksOut(el)) continue;
    let up = el.parentElement, skip = false;
    while (up && up !== document.body) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(up).overflowX) && !sticksOut(up)) {
        skip = true; break;
      }
      if (sticksOut(up)) { skip = true; break; }
      up = up.parentElement;
    }
    if (!skip) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
      ' ' + Math.round(el.getBoundingClientRect().right) + 'px');
  }
  if (!out.length) {
    // Something absolutely positioned escapes a container that is not its
    // containing block: name every element that sticks out.
    for (const el of document.querySelectorAll('body *')) {
      if (sticksOut(el)) out.push(el.tagName.toLowerCase() + '.' + el.className + ' ' +
        Math.round(el.getBoundingClientRect().right) + 'px');
    }
  }
  return out.slice(0, 8);
}"""


def _path(route, world) -> str:
    path = "/" + route.pattern
    for key in route.kwargs:
        value = str(world["kwargs"][key])
        path = path.replace(f"<int:{key}>", value).replace(f"<str:{key}>", value)
    return path


def test_every_page_fits_a_390px_screen(browser, live_server, make_user, make_project, annotate):
    world = _world(make_user, make_project, annotate)
    routes = collect_routes()
    pages = sorted(
        name
        for name, route in routes.items()
        if not route.is_api and "GET" in MATRIX.get(name, {}) and name not in NOT_PAGES
    )
    people = {
        "lead": "phone-lead",
        "reviewer": "phone-rev",
        "annotator": "phone-ann",
        "anonymous": None,
    }
    opened: set[str] = set()
    too_wide: list[str] = []
    for role, username in people.items():
        # Which pages this person may open (a refused one would log its
        # status in the browser's console): asked of the server first.
        probe = Client()
        if username:
            probe.force_login(User.objects.get(username=username))
        paths = []
        for name in pages:
            if name == "accounts:invite_accept" and username:
                continue  # opened signed out (accepting it signs in)
            path = _path(routes[name], world) + world["query"].get(name, "")
            if probe.get(path).status_code == 200:
                paths.append((name, path))
        with watched_page(browser, live_server) as page:
            page.set_viewport_size({"width": WIDTH, "height": 844})
            # The app has no favicon; Chromium asks for one on some pages and
            # logs the 404 as a console error.
            page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
            if username:
                page.goto("/accounts/login/")
                page.fill("#id_username", username)
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector(".site-user")
            for name, path in paths:
                response = page.goto(path)
                assert response is not None and response.status == 200, (role, path)
                page.wait_for_load_state("networkidle")
                opened.add(name)
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > WIDTH:
                    culprits = page.evaluate(OVERFLOW, WIDTH)
                    too_wide.append(f"{role} {path}: {width}px; {', '.join(culprits)}")
    assert too_wide == [], "\n".join(too_wide)
    assert sorted(set(pages) - opened) == []
