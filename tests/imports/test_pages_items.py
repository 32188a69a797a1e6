"""The Items tab: the list with counts, search and state filter, archive and
delete; the upload form; an import job's card that polls itself until it
finishes, and its Cancel button. Leads only: other members get 403, other
projects' users 404, anonymous visitors the login page. Over 500 lines:
one file, so its module-scoped fixtures are built once."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.models import Annotation
from items.models import Item, ItemState
from items.services import ItemRow, items_create
from projects import services
from projects.jobs import job_create
from projects.models import Job, JobStatus
from tests.projects.conftest import XSS_PAYLOADS, Pages

ROLES = ("lead", "annotator", "reviewer", "outsider")
DENIED = {"lead": None, "annotator": 403, "reviewer": 403, "outsider": 404}


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # PBKDF2 at Django's default cost takes ~0.5 s per user; not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def pages() -> Pages:
    return Pages()


@pytest.fixture
def media(settings, tmp_path):
    # Uploads are stored before their job runs: keep them out of the tree
    # (only where no worker, which reads the real media folder, is involved).
    settings.MEDIA_ROOT = str(tmp_path / "media")


def add(project, *rows: tuple[str, str | None, dict | None]) -> dict[str, Item]:
    """Items by text: (text, external id, meta)."""
    config = services.project_config(project).config
    items_create(
        project=project,
        rows=[ItemRow({"text": text}, external_id, meta) for text, external_id, meta in rows],
        config=config,
    )
    return {i.data["text"]: i for i in Item.objects.filter(project=project)}


@pytest.fixture
def items(project):
    return add(
        project,
        ("the delivery was late", "d1", {"source": "mail"}),
        ("great support team", "d2", {"source": "web"}),
        ("livraison en retard", "d3", {"source": "web", "lang": "fr"}),
    )


@pytest.fixture
def import_job(project, lead):
    """A queued import job of the project (no worker runs it)."""
    return job_create(
        project=project,
        kind="import",
        user=lead,
        params={"file": "x", "filename": "items.jsonl", "options": {"format": "jsonl"}},
    )


def items_url(project, rest: str = "") -> str:
    return f"/projects/{project.pk}/items/{rest}"


def job_url(job, rest: str = "") -> str:
    return f"/projects/{job.project_id}/items/imports/{job.pk}/{rest}"


def card(client: Client, job) -> object:
    """The job's card as its own polling asks for it."""
    return client.get(
        job_url(job),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"job-{job.pk}",
        HTTP_HX_TRIGGER=f"job-{job.pk}",
    )


def listed(response) -> list[str]:
    """External ids of the rows of the item list, in order."""
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'<td class="item-id" dir="auto">([^<]*)</td>', response.content.decode())


# --- who may do what ------------------------------------------------------------


def page_urls(project, job) -> list[str]:
    return [items_url(project), items_url(project, "import/"), job_url(job)]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("index", range(3))
def test_page_matrix(request, web_for, pages, project, import_job, role, index):
    url = page_urls(project, import_job)[index]
    client = web_for(request.getfixturevalue(role))
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get(url, **htmx)
        assert response.status_code == (DENIED[role] or 200)
        if htmx:
            assert pages.is_partial(response)
    if role == "lead":
        body = pages.text(client.get(url, HTTP_HX_REQUEST="true"))
        assert 'id="tab-items"' in body and 'aria-current="page">Items</a>' in body
        assert 'hx-swap-oob="innerHTML"' in body


@pytest.mark.parametrize("index", range(3))
def test_anonymous_is_sent_to_login(web_for, project, import_job, index):
    response = web_for(None).get(page_urls(project, import_job)[index])
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", ROLES)
def test_the_job_card_matrix(request, web_for, pages, import_job, role):
    response = card(web_for(request.getfixturevalue(role)), import_job)
    assert response.status_code == (DENIED[role] or 200)
    assert pages.is_partial(response)
    assert card(web_for(None), import_job).status_code == 302


def test_the_items_tab_is_for_leads_only(web_for, pages, project, lead, annotator, reviewer):
    for user, shown in ((lead, True), (annotator, False), (reviewer, False)):
        body = pages.text(web_for(user).get(f"/projects/{project.pk}/"))
        assert ('id="tab-items"' in body) is shown


def writes(project, item, job) -> list[tuple[str, dict]]:
    return [
        (items_url(project, "archive/"), {"ids": [item.pk]}),
        (items_url(project, "delete/"), {"ids": [item.pk]}),
        (items_url(project, "import/"), {"file": SimpleUploadedFile("a.jsonl", b'{"text": "x"}')}),
        (job_url(job, "cancel/"), {}),
    ]


def assert_untouched(project, item, job) -> None:
    item.refresh_from_db()
    assert item.state == ItemState.OPEN
    assert Job.objects.filter(project=project).count() == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


@pytest.mark.parametrize("role", ["annotator", "reviewer", "outsider", "anonymous"])
@pytest.mark.parametrize("index", range(4))
def test_writes_are_refused(request, web_for, media, project, items, import_job, role, index):
    user = None if role == "anonymous" else request.getfixturevalue(role)
    item = items["great support team"]
    url, data = writes(project, item, import_job)[index]
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = web_for(user).post(url, data, **htmx)
        expected = 302 if role == "anonymous" else DENIED[role]
        assert response.status_code == expected
        if isinstance(data.get("file"), SimpleUploadedFile):
            data["file"].seek(0)
    assert_untouched(project, item, import_job)


@pytest.mark.parametrize("index", range(4))
def test_csrf_is_enforced(lead, media, project, items, import_job, index):
    item = items["great support team"]
    url, data = writes(project, item, import_job)[index]
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    response = client.post(url, data)
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert_untouched(project, item, import_job)
    # With the token (as the page's form sends it) the write goes through.
    client.get(items_url(project))
    if isinstance(data.get("file"), SimpleUploadedFile):
        data["file"].seek(0)
    response = client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302


def test_a_job_of_another_project_is_404(web_for, make_project, lead, project, import_job):
    other = make_project(lead, name="Other")
    client = web_for(lead)
    assert client.get(f"/projects/{other.pk}/items/imports/{import_job.pk}/").status_code == 404
    response = client.post(f"/projects/{other.pk}/items/imports/{import_job.pk}/cancel/")
    assert response.status_code == 404
    assert Job.objects.get(pk=import_job.pk).status == JobStatus.QUEUED


def test_a_job_started_by_another_lead_is_shown_to_every_lead(
    web_for, make_user, project, import_job
):
    second = make_user("second-lead")
    services.membership_set(project=project, user=second, roles=["lead"])
    assert web_for(second).get(job_url(import_job)).status_code == 200


def test_an_archived_project_lists_items_read_only(web_for, pages, project, lead, items):
    services.project_archive(project=project, user=lead)
    client = web_for(lead)
    body = pages.text(client.get(items_url(project)))
    assert "great support team" in body
    assert 'name="ids"' not in body and "Import items" not in body
    item = items["great support team"]
    response = client.post(items_url(project, "archive/"), {"ids": [item.pk]})
    assert response.status_code == 409
    item.refresh_from_db()
    assert item.state == ItemState.OPEN
    assert '<fieldset class="plain" disabled>' in pages.text(
        client.get(items_url(project, "import/"))
    )


# --- the list -----------------------------------------------------------------------


def test_the_list_shows_counts_rows_and_metadata(web_for, pages, project, lead, items):
    body = pages.text(web_for(lead).get(items_url(project)))
    assert re.search(r'aria-current="page">Not archived <span class="count">3</span>', body)
    assert 'Waiting for annotation <span class="count">3</span>' in body
    assert '<td class="item-text" dir="auto">livraison en retard</td>' in body
    assert '<span class="meta-pair__key">lang:</span> <span dir="auto">fr</span>' in body
    assert f'<input type="checkbox" name="ids" value="{items["the delivery was late"].pk}"' in body


def test_search_and_filters(web_for, lead, project, items):
    client = web_for(lead)
    assert listed(client.get(items_url(project))) == ["d1", "d2", "d3"]
    assert listed(client.get(items_url(project), {"q": "RETARD"})) == ["d3"]
    assert listed(client.get(items_url(project), {"external_id": "d2"})) == ["d2"]
    assert listed(client.get(items_url(project), {"meta.source": "web"})) == ["d2", "d3"]
    # The form sends every field, empty or not.
    assert listed(
        client.get(items_url(project), {"q": "great", "external_id": "", "state": ""})
    ) == ["d2"]
    client.post(items_url(project, "archive/"), {"ids": [items["great support team"].pk]})
    assert listed(client.get(items_url(project))) == ["d1", "d3"]
    assert listed(client.get(items_url(project), {"state": "archived"})) == ["d2"]
    assert listed(client.get(items_url(project), {"state": "all"})) == ["d1", "d2", "d3"]
    assert listed(client.get(items_url(project), {"state": "open", "q": "great"})) == []


@pytest.mark.parametrize(
    ("query", "field_id", "text"),
    [
        ({"state": "done"}, "id_filter_state", "must be one of open, review, gold"),
        ({"q": "x" * 501}, "id_filter_q", "At most 500 characters"),
        ({"created_by__password": "x"}, None, "“created_by__password”: unknown filter"),
        ({"after": "abc"}, None, "“after” must be an item id"),
    ],
)
def test_a_bad_filter_is_400_with_the_reason(
    web_for, pages, lead, project, items, query, field_id, text
):
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = web_for(lead).get(items_url(project), query, **htmx)
        assert response.status_code == 400
        errors = pages.field_errors(response, field_id) if field_id else pages.text(response)
        assert text in errors
        assert "No items are listed: correct the filter." in pages.messages(response)
        assert 'name="ids"' not in pages.text(response)


def test_pages_by_id(web_for, pages, lead, project):
    add(project, *((f"text {n}", f"e{n:03d}", None) for n in range(60)))
    client = web_for(lead)
    first = client.get(items_url(project), {"q": "text"})
    assert listed(first) == [f"e{n:03d}" for n in range(50)]
    last_id = Item.objects.get(external_id="e049").pk
    link = f"/projects/{project.pk}/items/?q=text&amp;after={last_id}"
    assert f'href="{link}"' in pages.text(first)
    second = client.get(items_url(project), {"q": "text", "after": last_id})
    assert listed(second) == [f"e{n:03d}" for n in range(50, 60)]
    assert 'id="next-page"' not in pages.text(second)
    assert "First page" in pages.text(second)


def test_the_list_costs_the_same_queries_for_more_items(web_for, lead, project):
    client = web_for(lead)
    add(project, ("one", "a", {"k": "v"}))
    job_create(project=project, kind="import", user=lead, params={"filename": "a.jsonl"})
    client.get(items_url(project))  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get(items_url(project))
    add(project, *((f"more {n}", f"m{n}", {"k": "v"}) for n in range(80)))
    for _ in range(4):
        job_create(project=project, kind="import", user=lead, params={"filename": "b.jsonl"})
    with CaptureQueriesContext(connection) as many:
        client.get(items_url(project))
    # Session, user, project and permissions, membership, one page of items,
    # the counters, the recent imports with their users (and the session save).
    assert len(many) == len(few) <= 13


def test_right_to_left_text_keeps_its_direction(web_for, pages, lead, project):
    add(project, ("مرحبا بالعالم، هذا نص تجريبي", "ar-1", {"lang": "ar"}))
    body = pages.text(web_for(lead).get(items_url(project)))
    assert '<td class="item-text" dir="auto">مرحبا بالعالم، هذا نص تجريبي</td>' in body


def test_long_text_is_cut(web_for, pages, lead, project):
    add(project, ("word " * 2000, "long", None))
    body = pages.text(web_for(lead).get(items_url(project)))
    cell = re.search(r'<td class="item-text" dir="auto">([^<]*)</td>', body)[1]
    assert len(cell) <= 241 and cell.endswith("…")


# --- archive and delete -------------------------------------------------------------


def test_archive_the_selected_items(web_for, pages, lead, project, items):
    client = web_for(lead)
    chosen = [items["the delivery was late"].pk, items["great support team"].pk]
    response = client.post(items_url(project, "archive/") + "?q=e", {"ids": chosen})
    assert response.status_code == 302
    assert response["Location"] == items_url(project) + "?q=e"  # back to the list as it was
    assert set(Item.objects.filter(state="archived").values_list("pk", flat=True)) == set(chosen)
    page = client.get(response["Location"])
    assert "2 items archived." in pages.messages(page)
    assert 'Archived <span class="count">2</span>' in pages.text(page)


def test_archive_with_htmx_answers_the_list(web_for, pages, lead, project, items):
    item = items["great support team"]
    response = web_for(lead).post(
        items_url(project, "archive/") + "?state=open", {"ids": [item.pk]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert response["HX-Replace-Url"] == items_url(project) + "?state=open"
    assert listed(response) == ["d1", "d3"]
    assert "1 item archived." in pages.messages(response)


def test_delete_the_selected_items(web_for, pages, lead, project, items):
    client = web_for(lead)
    item = items["great support team"]
    response = client.post(items_url(project, "delete/"), {"ids": [item.pk]})
    assert response.status_code == 302
    assert not Item.objects.filter(pk=item.pk).exists()
    page = client.get(response["Location"])
    assert "1 item deleted." in pages.messages(page)
    assert 'Not archived <span class="count">2</span>' in pages.text(page)


def test_deleting_annotated_items_is_a_conflict(web_for, pages, lead, annotator, project, items):
    worked = items["great support team"]
    Annotation.objects.create(
        project=project, item=worked, annotator=annotator, value="pos", config_version=1
    )
    chosen = [items["the delivery was late"].pk, worked.pk]
    response = web_for(lead).post(items_url(project, "delete/"), {"ids": chosen})
    assert response.status_code == 409
    assert "Nothing was deleted. Some items already have annotations; archive them instead." in (
        pages.messages(response)
    )
    assert f"(Items {worked.pk}.)" in pages.messages(response)
    assert Item.objects.filter(pk__in=chosen).count() == 2


@pytest.mark.parametrize("view", ["archive/", "delete/"])
def test_nothing_selected_or_not_ids_is_400(web_for, pages, lead, project, items, view):
    client = web_for(lead)
    for data in ({}, {"ids": ["x"]}, {"ids": ["1e3"]}):
        response = client.post(items_url(project, view), data)
        assert response.status_code == 400
        assert pages.messages(response)
    assert Item.objects.filter(project=project, state="open").count() == 3


def test_another_projects_items_are_not_touched(web_for, pages, make_project, lead, project):
    other = make_project(lead, name="Other")
    theirs = add(other, ("not yours", None, None))["not yours"]
    client = web_for(lead)
    response = client.post(items_url(project, "delete/"), {"ids": [theirs.pk]})
    assert response.status_code == 400
    assert f"No item {theirs.pk} in this project." in pages.messages(response)
    client.post(items_url(project, "archive/"), {"ids": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.state == ItemState.OPEN


# --- upload ---------------------------------------------------------------------------


def test_the_form_explains_the_upload_limit(web_for, pages, lead, project, settings):
    settings.ACCORD_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
    body = pages.text(web_for(lead).get(items_url(project, "import/")))
    assert "at most 64 MB" in body
    assert 'accept=".jsonl,.ndjson,.json,.csv,.tsv"' in body
    assert 'data-max-bytes="67108864"' in body


def test_an_upload_over_the_limit_is_refused_before_the_view(web_for, lead, project, settings):
    settings.ACCORD_MAX_UPLOAD_BYTES = 1000
    response = web_for(lead).post(
        items_url(project, "import/"), {"file": SimpleUploadedFile("big.jsonl", b"x" * 2000)}
    )
    assert response.status_code == 413
    assert "larger than the limit of 1000 bytes" in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("data", "field_id", "text"),
    [
        ({}, "id_file", "Choose a file to import."),
        ({"file": SimpleUploadedFile("empty.jsonl", b"")}, "id_file", "The file is empty."),
        (
            {"file": SimpleUploadedFile("items.txt", b'{"text": "a"}')},
            "id_format",
            "The format cannot be told from the file name",
        ),
        (
            {"file": SimpleUploadedFile("items.jsonl", b'{"text": "a"}'), "format": "xml"},
            "id_format",
            "Select a valid choice",
        ),
        (
            {
                "file": SimpleUploadedFile("items.csv", b"text\na\n"),
                "text_column": "x" * 201,
            },
            "id_text_column",
            "Text column must be a column name",
        ),
    ],
)
def test_bad_upload_is_400_beside_the_field(
    web_for, pages, media, lead, project, data, field_id, text
):
    response = web_for(lead).post(items_url(project, "import/"), data)
    assert response.status_code == 400
    assert text in pages.field_errors(response, field_id)
    assert "Nothing was imported: correct the fields marked below." in pages.messages(response)
    assert not Job.objects.exists()


def test_an_upload_starts_a_job_and_shows_it(web_for, pages, media, lead, project):
    client = web_for(lead)
    body = b'{"text": "a"}\n{"text": "b"}\n'
    response = client.post(
        items_url(project, "import/"),
        {
            "file": SimpleUploadedFile("reviews.csv.jsonl", body),
            "partial": "on",
            "on_conflict": "update",
        },
    )
    job = Job.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    assert job.kind == "import" and job.created_by == lead
    assert job.params["filename"] == "reviews.csv.jsonl"
    assert job.params["options"]["format"] == "jsonl"
    assert job.params["options"]["partial"] is True
    assert job.params["options"]["on_conflict"] == "update"
    page = client.get(response["Location"])
    assert "“reviews.csv.jsonl” was uploaded" in pages.messages(page)
    text = pages.text(page)
    assert f'hx-get="{job_url(job)}" hx-trigger="every 1s"' in text
    assert "Waiting for a worker" in text


def test_an_upload_with_htmx_answers_the_job_page(web_for, pages, media, lead, project):
    response = web_for(lead).post(
        items_url(project, "import/"),
        {"file": SimpleUploadedFile("items.tsv", b"text\nhello\n")},
        HTTP_HX_REQUEST="true",
    )
    job = Job.objects.get(project=project)
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert response["HX-Push-Url"] == job_url(job)
    assert job.params["options"]["format"] == "tsv"
    assert f'id="job-{job.pk}"' in pages.text(response)


# --- the job card ------------------------------------------------------------------------


def test_a_running_job_polls_with_a_progress_bar(web_for, pages, lead, import_job):
    Job.objects.filter(pk=import_job.pk).update(status="running", done=250, total=1000)
    response = card(web_for(lead), import_job)
    body = pages.text(response)
    assert body.lstrip().startswith(f'<article id="job-{import_job.pk}"')  # the card alone
    assert 'hx-trigger="every 1s" hx-target="this" hx-swap="outerHTML"' in body
    assert re.search(r'<progress [^>]*max="1000" value="250"', body)
    assert "<strong>25%</strong>" in body
    assert 'role="status" aria-live="polite"' in body
    assert "HX-Target" in response["Vary"]
    assert pages.messages(response) == ""  # nothing to announce yet


def test_a_finished_job_stops_polling_and_shows_the_outcome(web_for, pages, lead, import_job):
    Job.objects.filter(pk=import_job.pk).update(
        status="succeeded",
        done=900,
        total=900,
        result={
            "lines": 9, "created": 4, "duplicates": 2, "conflicts": 1, "updated": 1, "bad": 1,
            "bad_lines": [{"line": 7, "errors": [{"field": "text", "reason": "is required"}]}],
            "conflict_lines": [{"line": 3, "external_id": "t-9"}],
        },
    )  # fmt: skip
    response = card(web_for(lead), import_job)
    body = pages.text(response)
    assert "hx-trigger" not in body
    assert "Cancel import" not in body
    for name, n in (("Created", 4), ("Duplicates", 2), ("Conflicts", 1), ("Updated", 1)):
        assert f"<dt>{name}</dt><dd>{n}</dd>" in body
    assert (
        '<th scope="row" class="num">7</th><td><code>text</code></td><td>is required</td>' in body
    )
    assert '<th scope="row" class="num">3</th><td dir="auto">t-9</td>' in body
    # The poll that sees it finish announces it in the live region.
    assert "The import of “items.jsonl” succeeded: 4 items created." in pages.messages(response)


def test_a_failed_job_shows_its_error(web_for, pages, lead, import_job):
    Job.objects.filter(pk=import_job.pk).update(
        status="failed", error="line 2: not valid UTF-8 (byte 3); save the file as UTF-8"
    )
    body = pages.text(web_for(lead).get(job_url(import_job)))
    assert "line 2: not valid UTF-8 (byte 3); save the file as UTF-8" in body
    assert "Failed: nothing was imported." in body


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_a_queued_job(web_for, pages, lead, import_job):
    client = web_for(lead)
    response = client.post(job_url(import_job, "cancel/"))
    assert response.status_code == 302
    assert response["Location"] == job_url(import_job)
    assert Job.objects.get(pk=import_job.pk).status == JobStatus.CANCELLED
    page = client.get(response["Location"])
    assert "The import was cancelled." in pages.messages(page)
    assert "Cancelled: nothing was imported." in pages.text(page)


def test_cancel_a_running_job_with_htmx(web_for, pages, lead, import_job):
    Job.objects.filter(pk=import_job.pk).update(status="running")
    response = web_for(lead).post(
        job_url(import_job, "cancel/"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"job-{import_job.pk}",
    )
    assert response.status_code == 200
    body = pages.text(response)
    assert body.lstrip().startswith(f'<article id="job-{import_job.pk}"')
    assert "Stopping at the next progress report" in body
    assert "Cancel import" not in body
    assert "hx-trigger" in body  # it keeps polling until the worker stops
    assert Job.objects.get(pk=import_job.pk).cancel_requested


def test_cancelling_a_finished_job_is_a_conflict(web_for, pages, lead, import_job):
    Job.objects.filter(pk=import_job.pk).update(status="succeeded")
    client = web_for(lead)
    response = client.post(job_url(import_job, "cancel/"))
    assert response.status_code == 409
    assert "Nothing to cancel: the job has already succeeded." in pages.messages(response)
    response = client.post(
        job_url(import_job, "cancel/"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"job-{import_job.pk}",
    )
    assert response.status_code == 409
    assert "Nothing to cancel" in pages.messages(response)
    assert Job.objects.get(pk=import_job.pk).status == JobStatus.SUCCEEDED


def test_the_items_page_lists_recent_imports(web_for, pages, lead, project, import_job):
    body = pages.text(web_for(lead).get(items_url(project)))
    assert f'<article id="job-{import_job.pk}"' in body
    assert 'Import of <span dir="auto">items.jsonl</span>' in body


# --- escaping ---------------------------------------------------------------------------------


def test_item_text_and_metadata_are_shown_as_text(web_for, pages, lead, project):
    add(
        project,
        *(
            (payload, f"x{i}{payload}", {"note": payload, payload: "key"})
            for i, payload in enumerate(XSS_PAYLOADS)
        ),
    )
    job = job_create(
        project=project,
        kind="import",
        user=lead,
        params={"filename": XSS_PAYLOADS[0] + ".jsonl"},
    )
    Job.objects.filter(pk=job.pk).update(
        status="failed",
        error=XSS_PAYLOADS[2],
        result={
            "bad": 1,
            "bad_lines": [{"line": 1, "errors": [{"field": XSS_PAYLOADS[2], "reason": XSS_PAYLOADS[0]}]}],
            "conflict_lines": [{"line": 2, "external_id": XSS_PAYLOADS[2]}],
            "conflicts": 1,
        },
    )  # fmt: skip
    client = web_for(lead)
    for response in (
        client.get(items_url(project)),
        client.get(items_url(project), HTTP_HX_REQUEST="true"),
        client.get(items_url(project), {"q": XSS_PAYLOADS[0]}),
        client.get(items_url(project), {XSS_PAYLOADS[2]: "x"}),  # a bad filter, echoed
        client.get(job_url(job)),
        card(client, job),
    ):
        assert response.status_code in (200, 400)
        pages.assert_inert(response)
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in pages.text(response)


# --- with a real worker ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_upload_through_the_page_with_a_worker(
    celery_worker, web_for, pages, lead, project, wait_for_job
):
    body = "\n".join(
        json.dumps({"text": f"review {n}", "external_id": f"r{n}", "meta": {"n": n}})
        for n in range(120)
    ).encode()
    client = web_for(lead)
    response = client.post(
        items_url(project, "import/"), {"file": SimpleUploadedFile("reviews.jsonl", body)}
    )
    assert response.status_code == 302
    job = wait_for_job(Job.objects.get(project=project).pk)
    assert job.status == "succeeded", job.error
    assert Item.objects.filter(project=project).count() == 120

    finished = card(client, job)
    text = pages.text(finished)
    assert "hx-trigger" not in text
    assert "<dt>Created</dt><dd>120</dd>" in text
    assert re.search(rf'<progress [^>]*max="{len(body)}" value="{len(body)}"', text)
    assert listed(client.get(items_url(project), {"q": "review 11"})) == [
        "r11",
        *(f"r{n}" for n in range(110, 120)),
    ]
    assert 'Waiting for annotation <span class="count">120</span>' in pages.text(
        client.get(items_url(project))
    )


@pytest.mark.django_db(transaction=True)
def test_a_bad_file_fails_with_its_line_numbers(
    celery_worker, web_for, pages, lead, project, wait_for_job
):
    body = b'{"text": "fine"}\n{"text": ""}\nnot json\n{"text": "also fine", "colour": "red"}\n'
    client = web_for(lead)
    response = client.post(
        items_url(project, "import/"), {"file": SimpleUploadedFile("bad.jsonl", body)}
    )
    assert response.status_code == 302
    job = wait_for_job(Job.objects.get(project=project).pk)
    assert job.status == "failed"
    assert not Item.objects.filter(project=project).exists()

    text = pages.text(card(client, job))
    assert "3 lines are bad, so nothing was imported" in text
    rows = re.findall(r'<th scope="row" class="num">(\d+)</th><td>(.*?)</td>', text)
    assert [line for line, _ in rows] == ["2", "3", "4"]
    assert "<code>colour</code>" in text
    assert "invalid JSON" in text
