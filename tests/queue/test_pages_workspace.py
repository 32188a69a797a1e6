"""The annotator's workspace and history pages, through HTTP on PostgreSQL:
who may open them, submit / skip / later / draft / undo / edit through the
pages, a stale form that can only ever act on its own assignment, blind
pages, escaping, and the empty, leased and archived states.
Over 500 lines: one file, so its module-scoped fixtures are built once."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.models import Annotation, Assignment, AssignmentState
from annotation.queue.claim import assignment_claim
from annotation.queue.release import lease_release
from annotation.queue.submit import annotation_submit
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from projects.services import project_config
from tests.projects.conftest import XSS_PAYLOADS

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


# --- helpers ------------------------------------------------------------------


def url(project, rest: str = "") -> str:
    return f"/projects/{project.pk}/annotate/{rest}"


def text_of(response) -> str:
    return response.content.decode()


def flat(response) -> str:
    """The page's visible text, tags dropped and whitespace collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text_of(response), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def item_on_screen(response) -> int | None:
    """The assignment id the workspace shows (the answer form's own)."""
    match = re.search(r'id="answer-form"[^>]*data-assignment="(\d+)"', text_of(response))
    return int(match[1]) if match else None


def checked_values(response) -> list[str]:
    tags = re.findall(r'<input type="(?:radio|checkbox)" name="value"[^>]*>', text_of(response))
    return [re.search(r'value="([^"]*)"', t)[1] for t in tags if " checked" in t]


def lease(user, project) -> Assignment | None:
    return Assignment.objects.filter(
        project=project, annotator=user, state=AssignmentState.ACTIVE
    ).first()


@pytest.fixture
def web(web_for, annotator):
    return web_for(annotator)


@pytest.fixture
def items(project, add_items):
    add_items(project, 4)
    return list(Item.objects.filter(project=project).order_by("id"))


def claim_page(web, project):
    response = web.post(url(project, "next/"), **HX)
    assert response.status_code == 200, response.content[:500]
    return response


def submit(web, project, assignment_id: int, value, **extra):
    data = {"value": value, "active_ms": "1234"}
    return web.post(url(project, f"{assignment_id}/submit/"), data, **{**HX, **extra})


# --- who may open it ----------------------------------------------------------


def test_annotator_gets_the_page_and_the_first_item(project, annotator, web, items):
    page = web.get(url(project))
    assert page.status_code == 200
    body = text_of(page)
    assert 'id="tab-annotate"' in body and 'aria-current="page">Annotate' in body
    # No lease yet: a GET claims nothing, the page asks for one (POST) on load.
    assert lease(annotator, project) is None
    assert 'hx-trigger="load, submit"' in body and "Get the next item" in body

    first = claim_page(web, project)
    held = lease(annotator, project)
    assert item_on_screen(first) == held.pk
    assert "item 0" in flat(first)
    assert 'dir="auto"' in text_of(first)
    # The labels with their hotkeys, as a labelled radio group.
    assert re.search(
        r'<input type="radio" name="value" value="pos" id="choice-1"[^>]*data-hotkey="p"',
        text_of(first),
    )
    assert 'for="choice-1"' in text_of(first)
    assert "Label (choose one)" in flat(first)
    assert "Left for you" in flat(first) and "Done today" in flat(first)

    # The page itself now shows that lease (a reload resumes it).
    again = web.get(url(project))
    assert item_on_screen(again) == held.pk


@pytest.mark.parametrize("role", ["lead", "reviewer", "outsider"])
def test_others_get_404(role, project, items, request, web_for, annotator):
    other = request.getfixturevalue(role)
    client = web_for(other)
    held = assignment_claim(project=project, user=annotator).assignment
    assert client.get(url(project)).status_code == 404
    assert client.get(url(project, "history/")).status_code == 404
    assert client.post(url(project, "next/")).status_code == 404
    assert client.post(url(project, f"{held.pk}/submit/"), {"value": "pos"}).status_code == 404
    assert client.post(url(project, f"{held.pk}/draft/"), {"value": "pos"}).status_code == 404
    # The same through htmx, as the page's script would send them.
    assert client.get(url(project), **HX).status_code == 404
    assert client.post(url(project, "next/"), **HX).status_code == 404
    assert client.post(url(project, f"{held.pk}/later/"), **HX).status_code == 404
    assert lease(other, project) is None
    assert not Annotation.objects.exists()
    # No tab for them either (the lead and reviewer can see the project).
    if role != "outsider":
        assert 'id="tab-annotate"' not in text_of(client.get(f"/projects/{project.pk}/"))


def test_a_lead_who_also_annotates_gets_the_workspace(project, lead, web_for, items):
    services.membership_set(project=project, user=lead, roles=["lead", "annotator"])
    assert web_for(lead).get(url(project)).status_code == 200


def test_an_assignment_under_another_projects_url_is_404(
    project, annotator, web, items, make_project, lead
):
    other = make_project(lead, name="Other")
    services.membership_set(project=other, user=annotator, roles=["annotator"])
    held = assignment_claim(project=project, user=annotator).assignment
    response = web.post(url(other, f"{held.pk}/submit/"), {"value": "pos"}, **HX)
    assert response.status_code == 404
    assert lease(annotator, project).pk == held.pk


def test_anonymous_goes_to_login_and_scripts_get_401(project, annotator, items):
    held = assignment_claim(project=project, user=annotator).assignment
    anonymous = Client()
    page = anonymous.get(url(project))
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    plain = anonymous.post(url(project, f"{held.pk}/submit/"), {"value": "pos"})
    assert plain.status_code == 302
    # The page's own requests (htmx, and fetch for drafts) get 401, so the
    # script can ask for a sign-in and keep the form (SECURITY.md E4).
    htmx = anonymous.post(url(project, f"{held.pk}/submit/"), {"value": "pos"}, **HX)
    assert htmx.status_code == 401
    assert "Basic" not in htmx["WWW-Authenticate"]
    fetch = anonymous.post(
        url(project, f"{held.pk}/draft/"), {"value": "pos"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert fetch.status_code == 401
    # A page asked for by htmx (a tab) still goes to the login page, which
    # accord.js follows: there is no work on screen to keep.
    tab = anonymous.get(url(project), **HX)
    assert tab.status_code == 302 and tab["Location"].startswith("/accounts/login/")
    assert not Annotation.objects.exists()


def test_an_ended_session_then_a_new_one_submits_the_kept_form(project, annotator, items):
    """E4 on the server's side: the same form, sent again after signing in
    (with the new session's CSRF token), lands."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    page = client.get(url(project))
    token = client.cookies["csrftoken"].value
    held = assignment_claim(project=project, user=annotator).assignment
    client.cookies.pop("sessionid")  # the session ended
    headers = {**HX, "HTTP_X_CSRFTOKEN": token}
    form = {"value": "neg", "active_ms": "10"}
    assert client.post(url(project, f"{held.pk}/submit/"), form, **headers).status_code == 401
    assert page.status_code == 200
    login = client.post(
        "/accounts/login/",
        {"username": "annotator", "password": "correct horse battery staple 42"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert login.status_code == 302
    new_token = client.cookies["csrftoken"].value
    assert new_token != token  # rotated at sign-in: the script reads it from the cookie
    stale = client.post(url(project, f"{held.pk}/submit/"), form, **headers)
    assert stale.status_code == 403  # the old token: workspace.js refreshes it and sends again
    done = client.post(
        url(project, f"{held.pk}/submit/"), form, **{**HX, "HTTP_X_CSRFTOKEN": new_token}
    )
    assert done.status_code == 200
    assert Annotation.objects.get(assignment=held).value == "neg"


# --- submit, and the stale form -------------------------------------------------


def test_submit_saves_and_shows_the_next_item(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    response = submit(web, project, first, "pos")
    assert response.status_code == 200
    annotation = Annotation.objects.get(assignment_id=first)
    assert (annotation.value, annotation.active_ms) == ("pos", 1234)
    assert "Saved: Positive for item" in flat(response)
    assert 'hx-swap-oob="innerHTML"' in text_of(response)  # the live region
    second = item_on_screen(response)
    assert second not in (None, first)
    assert lease(annotator, project).pk == second
    assert re.search(r'id="done-today">1<', text_of(response))
    # The undo button for what was just saved.
    assert f"annotate/undo/{annotation.pk}/" in text_of(response)


def test_submit_without_htmx_redirects_to_the_page(project, annotator, web, items):
    first = assignment_claim(project=project, user=annotator).assignment
    response = web.post(url(project, f"{first.pk}/submit/"), {"value": "neg"})
    assert response.status_code == 302 and response["Location"] == url(project)
    assert Annotation.objects.get(assignment=first).value == "neg"
    page = web.get(url(project))
    assert item_on_screen(page) == lease(annotator, project).pk != first.pk
    assert "Saved: Negative" in flat(page)


def test_a_stale_form_replayed_is_idempotent_and_never_touches_the_next_item(
    project, annotator, web, items
):
    first = item_on_screen(claim_page(web, project))
    submit(web, project, first, "pos")
    second = lease(annotator, project)

    # A double Enter: the same form (same URL, same value) again.
    replay = submit(web, project, first, "pos")
    assert replay.status_code == 200
    assert "Already saved: Positive" in flat(replay)
    assert item_on_screen(replay) == second.pk  # the current item, not a new claim
    assert Annotation.objects.filter(annotator=annotator).count() == 1
    second.refresh_from_db()
    assert second.state == AssignmentState.ACTIVE and second.draft is None

    # The stale form with another choice: 409, nothing applied anywhere.
    other = submit(web, project, first, "neg")
    assert other.status_code == 409
    assert "already submitted with another value" in flat(other)
    assert item_on_screen(other) == second.pk
    assert Annotation.objects.get(assignment_id=first).value == "pos"
    assert not Annotation.objects.filter(assignment=second).exists()

    # Skip and later of the answered item do not reach the next one either.
    assert web.post(url(project, f"{first}/skip/"), {"reason": "x"}, **HX).status_code == 409
    assert web.post(url(project, f"{first}/later/"), **HX).status_code == 409
    second.refresh_from_db()
    assert second.state == AssignmentState.ACTIVE
    assert lease(annotator, project).pk == second.pk


def test_nothing_chosen_is_a_400_beside_the_choices(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    response = web.post(url(project, f"{first}/submit/"), {"active_ms": "5"}, **HX)
    assert response.status_code == 400
    assert item_on_screen(response) == first
    assert re.search(r'id="choices-error">.*Nothing is chosen yet', text_of(response), re.S)
    assert 'aria-invalid="true"' in text_of(response)
    unknown = web.post(url(project, f"{first}/submit/"), {"value": "<b>nope</b>"}, **HX)
    assert unknown.status_code == 400
    assert "<b>nope</b>" not in text_of(unknown)
    assert "&lt;b&gt;nope&lt;/b&gt;" in text_of(unknown)
    assert not Annotation.objects.exists()


def test_a_lost_lease_is_a_409_with_the_way_forward(project, annotator, annotators, web, items):
    """The lease ended and the slot went to others: the answer is refused,
    the annotator is told so and gets their next item."""
    Item.objects.update(overlap=1, free_slots=1)
    first = item_on_screen(claim_page(web, project))
    held = Assignment.objects.get(pk=first)
    lease_release(project=project, assignment_id=held.pk)
    taken = assignment_claim(project=project, user=annotators[0]).assignment
    assert taken.item_id == held.item_id
    response = submit(web, project, first, "pos")
    assert response.status_code == 409
    assert "slot was taken by someone else" in flat(response)
    assert "Your answer for it was not saved" in flat(response)
    assert item_on_screen(response) not in (None, first)


# --- skip, later, drafts, undo ------------------------------------------------


def test_skip_needs_a_reason_then_moves_on(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    empty = web.post(url(project, f"{first}/skip/"), {"reason": "  "}, **HX)
    assert empty.status_code == 400
    assert item_on_screen(empty) == first
    assert re.search(r'id="skip-reason_error">.*say why you skip', text_of(empty), re.S)
    assert re.search(r'<details id="skip-box" class="ws-skip" open>', text_of(empty))

    payload = XSS_PAYLOADS[0] + "x" * 600  # too long: echoed back, escaped
    long = web.post(url(project, f"{first}/skip/"), {"reason": payload}, **HX)
    assert long.status_code == 400
    assert XSS_PAYLOADS[0] not in text_of(long)
    assert html.escape(XSS_PAYLOADS[0]) in text_of(long)

    done = web.post(url(project, f"{first}/skip/"), {"reason": "unclear text"}, **HX)
    assert done.status_code == 200
    skipped = Assignment.objects.get(pk=first)
    assert (skipped.state, skipped.skip_reason) == ("skipped", "unclear text")
    assert "you will not see it again" in flat(done)
    assert item_on_screen(done) not in (None, first)


def test_later_gives_the_item_back(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    response = web.post(url(project, f"{first}/later/"), **HX)
    assert response.status_code == 200
    assert Assignment.objects.get(pk=first).state == AssignmentState.DEFERRED
    assert item_on_screen(response) not in (None, first)
    assert "comes again after the rest of your queue" in flat(response)


def test_draft_is_kept_and_a_reload_shows_it(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    response = web.post(
        url(project, f"{first}/draft/"), {"value": "neg"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert response.status_code == 204
    assert Assignment.objects.get(pk=first).draft == "neg"
    reload = web.get(url(project))
    assert item_on_screen(reload) == first
    assert checked_values(reload) == ["neg"]
    # A draft of an assignment already answered is refused, with its reason.
    submit(web, project, first, "pos")
    late = web.post(url(project, f"{first}/draft/"), {"value": "neu"})
    assert late.status_code == 409
    assert late["Content-Type"].startswith("text/plain")
    assert Annotation.objects.get(assignment_id=first).value == "pos"


def test_undo_puts_the_item_back_with_its_answer(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    submit(web, project, first, "neu")
    second = lease(annotator, project)
    annotation = Annotation.objects.get(assignment_id=first)
    response = web.post(url(project, f"undo/{annotation.pk}/"), **HX)
    assert response.status_code == 200
    assert not Annotation.objects.filter(pk=annotation.pk).exists()
    assert item_on_screen(response) == first
    assert checked_values(response) == ["neu"]
    assert "was withdrawn" in flat(response)
    second.refresh_from_db()
    assert second.state == AssignmentState.EXPIRED  # its slot went back
    again = submit(web, project, first, "pos")
    assert again.status_code == 200
    assert Annotation.objects.get(assignment_id=first).value == "pos"


def test_undo_of_a_frozen_annotation_is_a_409(project, annotator, annotators, web, items):
    first = item_on_screen(claim_page(web, project))
    submit(web, project, first, "pos")
    other = assignment_claim(project=project, user=annotators[0]).assignment
    annotation_submit(assignment=other, user=annotators[0], value="pos")
    annotation = Annotation.objects.get(assignment_id=first)
    response = web.post(url(project, f"undo/{annotation.pk}/"), **HX)
    assert response.status_code == 409
    assert "frozen" in flat(response)
    assert Annotation.objects.filter(pk=annotation.pk).exists()


def test_someone_elses_assignment_and_annotation_are_404(
    project, annotator, annotators, web, items
):
    theirs = assignment_claim(project=project, user=annotators[0]).assignment
    done = annotation_submit(assignment=theirs, user=annotators[0], value="neg").annotation
    theirs_now = assignment_claim(project=project, user=annotators[0]).assignment
    for path, data in [
        (f"{theirs_now.pk}/submit/", {"value": "pos"}),
        (f"{theirs_now.pk}/skip/", {"reason": "x"}),
        (f"{theirs_now.pk}/later/", {}),
        (f"{theirs_now.pk}/draft/", {"value": "pos"}),
        (f"undo/{done.pk}/", {}),
        (f"history/{done.pk}/edit/", {"value": "pos"}),
    ]:
        assert web.post(url(project, path), data, **HX).status_code == 404, path
    assert Annotation.objects.get(pk=done.pk).value == "neg"
    assert lease(annotators[0], project).pk == theirs_now.pk


# --- guidelines, progress -----------------------------------------------------


def test_guidelines_beside_the_item_and_a_change_is_flagged(project, lead, annotator, web, items):
    services.guideline_publish(project=project, user=lead, body="# Rules\n\nBe *kind*.", note="v1")
    first = item_on_screen(claim_page(web, project))
    page = web.get(url(project))
    assert "<em>kind</em>" in text_of(page)
    assert "version 1" in flat(page)
    assert "Changed since your last item" not in flat(page)  # the first item

    services.guideline_publish(
        project=project, user=lead, body="# Rules\n\nBe brief.", note=XSS_PAYLOADS[2]
    )
    after = submit(web, project, first, "pos")
    assert "Changed since your last item" in flat(after)
    assert "Version 1 → 2" in flat(after)
    assert "?from=1&amp;to=2" in text_of(after)
    assert "Be brief." in flat(after)
    assert XSS_PAYLOADS[2] not in text_of(after)  # the note is escaped
    assert "data-changed" in text_of(after)
    # The next item under the same version: no notice.
    third = submit(web, project, item_on_screen(after), "neg")
    assert "Changed since your last item" not in flat(third)


# --- states -------------------------------------------------------------------


def test_nothing_left_and_everything_leased(project, annotator, annotators, web, add_items):
    empty = claim_page(web, project)
    assert "Nothing left for you" in flat(empty)
    assert item_on_screen(empty) is None

    add_items(project, 1)
    assignment_claim(project=project, user=annotators[0])
    assignment_claim(project=project, user=annotators[1])
    waiting = claim_page(web, project)
    assert "Come back in a minute" in flat(waiting)
    retry = int(waiting["Retry-After"])
    assert retry >= 1
    assert f'hx-trigger="load delay:{retry}s, submit"' in text_of(waiting)
    assert lease(annotator, project) is None


def test_after_the_last_item_it_can_still_be_taken_back(project, annotator, web, add_items):
    add_items(project, 1)
    only = item_on_screen(claim_page(web, project))
    done = submit(web, project, only, "neg")
    assert "Nothing left for you" in flat(done)
    annotation = Annotation.objects.get(assignment_id=only)
    assert f'action="{url(project, f"undo/{annotation.pk}/")}"' in text_of(done)
    back = web.post(url(project, f"undo/{annotation.pk}/"), **HX)
    assert item_on_screen(back) == only and checked_values(back) == ["neg"]


def test_an_archived_project_is_read_only(project, lead, annotator, web, items):
    held = assignment_claim(project=project, user=annotator).assignment
    services.project_archive(project=project, user=lead)
    page = web.get(url(project))
    assert page.status_code == 200 and "Read-only" in flat(page)
    response = submit(web, project, held.pk, "pos")
    assert response.status_code == 409
    assert "archived" in flat(response)
    assert web.post(url(project, f"{held.pk}/draft/"), {"value": "pos"}).status_code == 409
    assert not Annotation.objects.exists()


# --- escaping -----------------------------------------------------------------


def test_item_text_and_label_names_are_escaped(make_project, lead, annotator, web_for):
    config = {
        "multi_label": True,
        "labels": [
            {"key": "a", "name": XSS_PAYLOADS[0], "hotkey": "a", "description": XSS_PAYLOADS[1]},
            {"key": "b", "name": XSS_PAYLOADS[2], "color": "#123456"},
        ],
    }
    project = make_project(lead, name=XSS_PAYLOADS[1], config=config)
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    text = "\n".join(XSS_PAYLOADS) + "\n{{7*7}} hx-on:click=alert(1)"
    items_create(
        project=project,
        rows=[ItemRow({"text": text}, XSS_PAYLOADS[2][:100])],
        config=project_config(project).config,
    )
    web = web_for(annotator)
    first = claim_page(web, project)
    page = web.get(url(project))
    for response in (first, page):
        body = text_of(response)
        for payload in XSS_PAYLOADS:
            assert payload not in body
        assert html.escape(XSS_PAYLOADS[0]) in body
        assert "{{7*7}}" in body and "49" not in flat(response).replace("7*7", "")
        assert '<input type="checkbox" name="value" value="a"' in body
    assignment = item_on_screen(first)
    submit(web, project, assignment, ["a", "b"])
    history = web.get(url(project, "history/"))
    for payload in XSS_PAYLOADS:
        assert payload not in text_of(history)
    assert html.escape(XSS_PAYLOADS[0]) in text_of(history)


# --- history and blindness ------------------------------------------------------


BLIND_CONFIG = {
    "multi_label": True,
    "labels": [
        {"key": "a", "name": "Alpha", "hotkey": "a"},
        {"key": "b", "name": "Bravo", "hotkey": "b"},
        {"key": "c", "name": "Charlie", "hotkey": "c"},
    ],
}
# Another annotator's answer, as a page would show it if it leaked.
THEIR_VALUE = ("Alpha, Bravo, Charlie", '["a", "b", "c"]', "a,b,c", "[&quot;a&quot;")


def test_history_lists_own_answers_and_edits_until_frozen(
    project, annotator, annotators, web, items
):
    first = item_on_screen(claim_page(web, project))
    submit(web, project, first, "pos")
    second = lease(annotator, project).pk
    submit(web, project, second, "neg")
    # The other annotator completes the first item: it is compared and frozen.
    theirs = Assignment.objects.get(pk=first).item
    with_slot = assignment_claim(project=project, user=annotators[0]).assignment
    assert with_slot.item_id == theirs.pk
    annotation_submit(assignment=with_slot, user=annotators[0], value="pos")

    page = web.get(url(project, "history/"))
    assert page.status_code == 200
    rows = re.findall(
        r'<li id="annotation-(\d+)" class="card ws-history__row([^"]*)"', text_of(page)
    )
    mine = list(
        Annotation.objects.filter(annotator=annotator).order_by("-id").values_list("pk", flat=True)
    )
    assert [int(pk) for pk, _ in rows] == mine  # newest first, only mine
    assert [cls.strip() for _, cls in rows] == ["", "is-frozen"]
    assert "Frozen" in flat(page)
    frozen_pk, open_pk = mine[1], mine[0]
    assert f"history/{frozen_pk}/edit/" not in text_of(page)
    assert f"history/{open_pk}/edit/" in text_of(page)

    edited = web.post(url(project, f"history/{open_pk}/edit/"), {"value": "neu"}, **HX)
    assert edited.status_code == 200
    assert Annotation.objects.get(pk=open_pk).value == "neu"
    assert re.search(
        rf'^\s*(<div id="messages"[^>]*>.*?</div>\s*)?<li id="annotation-{open_pk}"',
        text_of(edited),
        re.S,
    )
    assert "is now: Neutral" in flat(edited)
    assert "Your answer: Neutral" in flat(edited)

    bad = web.post(url(project, f"history/{open_pk}/edit/"), {"value": "zzz"}, **HX)
    assert bad.status_code == 400
    assert "Unknown label" in flat(bad)
    frozen = web.post(url(project, f"history/{frozen_pk}/edit/"), {"value": "neg"}, **HX)
    assert frozen.status_code == 409
    assert "frozen" in flat(frozen)
    assert Annotation.objects.get(pk=frozen_pk).value == "pos"

    plain = web.post(url(project, f"history/{open_pk}/edit/"), {"value": "pos"})
    assert plain.status_code == 302 and plain["Location"] == url(project, "history/")


def test_history_is_paginated(project, annotator, web, add_items):
    add_items(project, 30)
    for _ in range(27):
        held = assignment_claim(project=project, user=annotator).assignment
        annotation_submit(assignment=held, user=annotator, value="pos")
    with CaptureQueriesContext(connection) as queries:
        first = web.get(url(project, "history/"))
    assert len(re.findall(r'<li id="annotation-', text_of(first))) == 25
    older = re.search(r'id="older-page" href="([^"]+)"', text_of(first))[1]
    second = web.get(html.unescape(older))
    assert len(re.findall(r'<li id="annotation-', text_of(second))) == 2
    assert 'id="older-page"' not in text_of(second)
    # One page costs the same few queries however many rows it lists.
    with CaptureQueriesContext(connection) as few:
        web.get(html.unescape(older))
    assert len(queries) == len(few)


def test_pages_are_blind_to_other_annotators(make_project, lead, annotator, annotators, web_for):
    project = make_project(lead, name="Blind", config=BLIND_CONFIG)
    services.membership_set(project=project, user=annotator, roles=["annotator"])
    for person in annotators[:2]:
        services.membership_set(project=project, user=person, roles=["annotator"])
    items_create(
        project=project,
        rows=[ItemRow({"text": f"text {i}"}) for i in range(3)],
        config=project_config(project).config,
    )
    web = web_for(annotator)
    pages = []
    # Item 1: both answered (compared, frozen). Item 2: the other one only.
    mine = item_on_screen(claim_page(web, project))
    theirs = assignment_claim(project=project, user=annotators[0]).assignment
    assert theirs.item_id == Assignment.objects.get(pk=mine).item_id
    annotation_submit(assignment=theirs, user=annotators[0], value=["a", "b", "c"])
    pages.append(web.get(url(project)))
    pages.append(submit(web, project, mine, ["a"]))
    nxt = assignment_claim(project=project, user=annotators[0]).assignment
    annotation_submit(assignment=nxt, user=annotators[0], value=["a", "b", "c"])
    current = lease(annotator, project)
    pages.append(web.get(url(project)))
    pages.append(web.post(url(project, f"{current.pk}/draft/"), {"value": ["a"]}))
    pages.append(web.get(url(project, "history/")))
    mine_annotation = Annotation.objects.get(assignment_id=mine)
    pages.append(
        web.post(url(project, f"history/{mine_annotation.pk}/edit/"), {"value": ["b"]}, **HX)
    )
    pages.append(submit(web, project, current.pk, ["b"]))
    pages.append(web.get(url(project, "history/")))
    for response in pages:
        body = text_of(response)
        for leak in THEIR_VALUE:
            assert leak not in body
        assert annotators[0].username not in body
        assert "agreed" not in body.lower() and "disagree" not in body.lower()

    # The history looks the same whether the others agreed or not.
    def history() -> str:
        body = text_of(web.get(url(project, "history/")))
        return re.sub(r'value="[A-Za-z0-9]{32,}"|"X-CSRFToken": "[^"]+"', "", body)

    before = history()
    item = Assignment.objects.get(pk=mine).item
    Item.objects.filter(pk=item.pk).update(
        outcome="agreed" if item.outcome == "disagreed" else "disagreed",
        state="gold" if item.state == "review" else "review",
    )
    Annotation.objects.filter(assignment=theirs).update(value=["b"])
    assert history() == before


def test_a_skip_is_taken_back_from_the_history(project, annotator, web, items):
    first = item_on_screen(claim_page(web, project))
    web.post(url(project, f"{first}/skip/"), {"reason": "clicked too fast"}, **HX)
    history = web.get(url(project, "history/"))
    assert history.status_code == 200
    assert "Items you skipped" in flat(history) and "clicked too fast" in flat(history)
    action = url(project, f"{first}/unskip/")
    assert f'action="{action}"' in text_of(history)

    response = web.post(action)

    assert response.status_code == 302 and response["Location"] == url(project)
    page = web.get(url(project))
    assert item_on_screen(page) == first
    assert "You took back your skip" in flat(page)
    assert Assignment.objects.get(pk=first).state == AssignmentState.ACTIVE
    assert "Items you skipped" not in flat(web.get(url(project, "history/")))


def test_a_skip_others_completed_says_so_and_stays(project, annotator, annotators, web, items):
    first = item_on_screen(claim_page(web, project))
    web.post(url(project, f"{first}/skip/"), {"reason": "not sure"}, **HX)
    item = Assignment.objects.get(pk=first).item
    Item.objects.filter(pk=item.pk).update(free_slots=0)  # others hold every slot

    history = web.get(url(project, "history/"))
    assert "Done by others" in flat(history)
    assert url(project, f"{first}/unskip/") not in text_of(history)
    refused = web.post(url(project, f"{first}/unskip/"))
    assert refused.status_code == 409
    assert "The skip stays." in flat(refused)
    assert Assignment.objects.get(pk=first).state == AssignmentState.SKIPPED


def test_messages_and_cards_name_the_item_by_its_external_id(project, annotator, web):
    rows = [ItemRow({"text": "first"}, external_id="T-1000"), ItemRow({"text": "second"})]
    items_create(project=project, rows=rows, config=project_config(project).config)
    first = item_on_screen(claim_page(web, project))
    done = submit(web, project, first, "pos")
    # The "take it back" card of the last answer, and the edit message.
    assert "Item T-1000 : Positive" in flat(done)
    annotation = Annotation.objects.get(assignment_id=first)
    edited = web.post(url(project, f"history/{annotation.pk}/edit/"), {"value": "neg"}, **HX)
    assert "Your answer for item T-1000 is now: Negative." in flat(edited)
    assert f"item {annotation.item_id}" not in flat(edited)
    # Without an external id, the head of its text.
    second = item_on_screen(web.get(url(project)))
    assert "Item “second”" in flat(web.get(url(project)))
    skipped = web.post(url(project, f"{second}/skip/"), {"reason": "unsure"}, **HX)
    assert "Skipped item “second”" in flat(skipped)
    assert "Item “second” Take back the skip" in flat(web.get(url(project, "history/")))
