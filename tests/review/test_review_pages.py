"""The reviewer's workspace pages, through HTTP on PostgreSQL: a
disagreement side by side (with usernames, or letters when review is
anonymous), a blind audit item, resolving through the form (accept, chosen
value, exclude) and its refusals shown in the page, who may open it, a stale
form that can only act on its own review, the key map, and escaping."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from items.models import ItemState
from projects import services
from review import leases
from review.models import Feedback, GoldRecord, GoldSource, Review, ReviewState
from review.views.workspace import keymap
from tasktypes import get as task_type
from tasktypes.base import TaskTypeError
from tests.conftest import CLASSIFICATION_CONFIG

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


# --- helpers ------------------------------------------------------------------


def url(project, rest: str = "") -> str:
    return f"/projects/{project.pk}/review/{rest}"


def text_of(response) -> str:
    return response.content.decode()


def flat(response) -> str:
    """The page's visible text, tags dropped and whitespace collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text_of(response), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def review_on_screen(response) -> int | None:
    match = re.search(r'id="(?:decision|blind)-form"[^>]*data-review="(\d+)"', text_of(response))
    return int(match[1]) if match else None


def card_names(response) -> list[str]:
    """Who each annotation card names (its heading, without the letter badge)."""
    heads = re.findall(r'<h4 class="rv-card__name".*?</h4>', text_of(response), flags=re.S)
    return [
        html.unescape(
            re.sub(r"<[^>]+>", "", re.sub(r'<span class="rv-card__letter".*?</span>', "", h))
        ).strip()
        for h in heads
    ]


def checked_values(response) -> list[str]:
    tags = re.findall(r'<input type="(?:radio|checkbox)" name="value"[^>]*>', text_of(response))
    return [re.search(r'value="([^"]*)"', t)[1] for t in tags if " checked" in t]


def lease(user, project) -> Review | None:
    return Review.objects.filter(project=project, reviewer=user, state=ReviewState.ACTIVE).first()


def claim(web, project):
    response = web.post(url(project, "next/"), **HX)
    assert response.status_code == 200, response.content[:800]
    return response


def resolve(web, project, review_id: int, data: dict, **extra):
    return web.post(url(project, f"{review_id}/resolve/"), data, **{**HX, **extra})


@pytest.fixture
def web(web_for, reviewer):
    return web_for(reviewer)


@pytest.fixture
def audit_project(project, lead):
    services.project_update(project=project, user=lead, audit_sample=1)
    project.refresh_from_db()
    return project


# --- the page and a disagreement ------------------------------------------------


def test_page_claims_on_load_and_shows_a_disagreement_side_by_side(
    project, web, reviewer, disagreement, annotator, second
):
    disagreement(project, text="The battery died after a week.")
    page = web.get(url(project))
    assert page.status_code == 200
    # A GET takes nothing: the page asks for the item (POST) as it loads.
    assert lease(reviewer, project) is None
    assert 'hx-trigger="load, submit"' in text_of(page)

    shown = claim(web, project)
    held = lease(reviewer, project)
    assert review_on_screen(shown) == held.pk
    body, words = text_of(shown), flat(shown)
    assert "The battery died after a week." in words
    assert re.search(r'id="item-text"[^>]*dir="auto"', body)
    # One card per annotation, with who made it, the answer as chips, and
    # the disputed labels said in words.
    assert card_names(shown) == ["annotator", "second"]
    assert "Positive ⚑ disputed" in words and "Negative ⚑ disputed" in words
    assert "Accept A" in words and "Accept B" in words
    assert "Active time" in words and "Lease to submit" in words
    # The gold chooser: the labels with their hotkeys, nothing chosen yet.
    assert re.search(r'name="value" value="pos"[^>]*data-hotkey="p"', body)
    assert checked_values(shown) == []
    # Reason codes, the reason, the actions, the panels.
    assert all(code["name"] in words for code in project.reason_codes)
    assert 'name="reason"' in body
    for action in ("Resolve with chosen value", "Exclude from gold", "Give back"):
        assert action in words
    assert "Guidelines" in words and "Decided before" in words

    # A reload shows the same review (the lease is read, not renewed).
    assert review_on_screen(web.get(url(project))) == held.pk


def test_anonymous_review_shows_letters_not_usernames(project, lead, web, disagreement):
    services.project_update(project=project, user=lead, anonymous_review=True)
    project.refresh_from_db()
    disagreement(project)
    shown = claim(web, project)
    assert card_names(shown) == ["Annotator A", "Annotator B"]
    assert "second" not in flat(shown)
    assert ">annotator<" not in text_of(shown)


def test_an_older_guideline_version_is_noted(project, lead, web, disagreement):
    services.guideline_publish(project=project, user=lead, body="# Rules v1")
    disagreement(project)
    services.guideline_publish(project=project, user=lead, body="# Rules v2")
    words = flat(claim(web, project))
    assert words.count("version 1 ⚑ older than the current version 2") == 2


def test_earlier_decisions_are_shown_with_their_reasons(project, web, reviewer, disagreement):
    first = disagreement(project, text="first disputed")
    review = leases.review_claim(project=project, user=reviewer).review
    resolve(web, project, review.pk, {"annotation": "", "value": "neg", "reason": "Sarcasm."})
    assert GoldRecord.objects.filter(item=first).exists()
    disagreement(project, text="second disputed")
    words = flat(claim(web, project))
    assert "Decided before" in words
    assert "first disputed" in words and "Gold: Negative" in words and "Sarcasm." in words


# --- resolving ---------------------------------------------------------------------


def test_accepting_an_annotation_makes_gold_and_feedback(
    project, web, reviewer, disagreement, annotator, second
):
    item = disagreement(project)
    review = lease_review(web, project, reviewer)
    theirs = {a.annotator_id: a for a in item.annotations.all()}
    data = {
        "annotation": str(theirs[second.pk].pk),
        "value": "pos",  # the chooser's state does not matter when a card's button is pressed
        "reason": "The second sentence is sarcastic.",
        "reason_code": "annotator_slip",
    }
    response = resolve(web, project, review.pk, data)
    assert response.status_code == 200
    gold = GoldRecord.objects.get(item=item)
    assert (gold.value, gold.source, gold.reason_code) == (
        "neg",
        GoldSource.ADJUDICATED,
        "annotator_slip",
    )
    assert gold.reason == "The second sentence is sarcastic."
    assert list(Feedback.objects.values_list("annotator_id", flat=True)) == [annotator.pk]
    assert "Resolved item" in flat(response) and "gold is Negative" in flat(response)
    # The next state: nothing left.
    assert "Nothing left to review" in flat(response)


def test_resolving_with_the_chosen_value(project, web, reviewer, disagreement):
    item = disagreement(project)
    review = lease_review(web, project, reviewer)
    response = resolve(web, project, review.pk, {"value": "neu", "reason": "Neither, really."})
    assert response.status_code == 200
    gold = GoldRecord.objects.get(item=item)
    assert gold.value == "neu" and not gold.excluded
    item.refresh_from_db()
    assert item.state == ItemState.GOLD


def test_excluding_needs_a_reason_and_then_excludes(project, web, reviewer, disagreement):
    item = disagreement(project)
    review = lease_review(web, project, reviewer)
    refused = resolve(web, project, review.pk, {"exclude": "true", "reason": "  "})
    assert refused.status_code == 400
    assert not GoldRecord.objects.filter(item=item).exists()
    body = text_of(refused)
    assert re.search(r'<textarea id="reason"[^>]*aria-invalid="true"', body)
    assert "Is required when the decision overrules" in flat(refused)
    # The same review is still on screen.
    assert review_on_screen(refused) == review.pk

    done = resolve(web, project, review.pk, {"exclude": "true", "reason": "Not English."})
    assert done.status_code == 200
    gold = GoldRecord.objects.get(item=item)
    assert gold.excluded and gold.reason == "Not English."
    item.refresh_from_db()
    assert item.state == ItemState.EXCLUDED
    assert "Excluded item" in flat(done)


def test_a_missing_reason_is_a_400_in_the_partial_and_nothing_is_stored(
    project, web, reviewer, disagreement
):
    item = disagreement(project)
    review = lease_review(web, project, reviewer)
    response = resolve(web, project, review.pk, {"value": "neg", "reason_code": "guideline_gap"})
    assert response.status_code == 400
    assert not GoldRecord.objects.filter(item=item).exists()
    assert not Feedback.objects.exists()
    body, words = text_of(response), flat(response)
    assert 'id="reason_error"' in body and "the annotators will read it" in words
    # What the reviewer chose stays on screen.
    assert checked_values(response) == ["neg"]
    assert re.search(r'<option value="guideline_gap" selected[ >]', body)
    # A partial, not the whole page.
    assert "<html" not in body


def test_nothing_chosen_and_a_bad_reason_code_are_shown_not_500(
    project, web, reviewer, disagreement
):
    disagreement(project)
    review = lease_review(web, project, reviewer)
    empty = resolve(web, project, review.pk, {"reason": "x"})
    assert empty.status_code == 400 and "Nothing is chosen yet" in flat(empty)
    bad = resolve(web, project, review.pk, {"value": "neg", "reason": "x", "reason_code": "nope"})
    assert bad.status_code == 400
    assert re.search(r'<select id="reason-code"[^>]*aria-invalid="true"', text_of(bad))
    foreign = resolve(web, project, review.pk, {"annotation": "999999999", "reason": "x"})
    assert foreign.status_code == 400
    assert 'role="alert"' in text_of(foreign) and "Is not one of this item" in flat(foreign)
    assert not GoldRecord.objects.exists()


def test_a_plain_form_post_redirects_after_resolving(project, web, reviewer, disagreement):
    disagreement(project)
    review = lease_review(web, project, reviewer)
    response = web.post(url(project, f"{review.pk}/resolve/"), {"value": "neg", "reason": "x"})
    assert response.status_code == 200  # nothing left: shown, as the annotator workspace does
    assert "Nothing left to review" in flat(response)
    disagreement(project, text="another one")
    response = web.post(url(project, "next/"))
    assert response.status_code == 302 and response["Location"] == url(project)


def test_a_stale_form_acts_only_on_its_own_review(project, web, reviewer, disagreement):
    disagreement(project, text="one")
    disagreement(project, text="two")
    first = lease_review(web, project, reviewer)
    resolve(web, project, first.pk, {"value": "neg", "reason": "x"})
    second = lease(reviewer, project)
    assert second is not None and second.pk != first.pk
    # The same form again: the same decision answers with the stored gold.
    again = resolve(web, project, first.pk, {"value": "neg", "reason": "x"})
    assert again.status_code == 200 and "Already resolved" in flat(again)
    # Another decision on it: 409, said in the page; the current item is shown.
    other = resolve(web, project, first.pk, {"value": "neu", "reason": "x"})
    assert other.status_code == 409
    assert 'role="alert"' in text_of(other) and "already resolved" in flat(other)
    assert review_on_screen(other) == second.pk
    assert GoldRecord.objects.filter(item_id=second.item_id).count() == 0


def test_give_back_ends_the_lease(project, web, reviewer, disagreement):
    disagreement(project)
    review = lease_review(web, project, reviewer)
    response = web.post(url(project, f"{review.pk}/release/"), **HX)
    assert response.status_code == 200
    review.refresh_from_db()
    assert review.state == ReviewState.RELEASED
    assert "Given back" in flat(response) and "Gave back item" in flat(response)


def test_nothing_left_and_all_leased_states(project, web, web_for, reviewer2, disagreement):
    done = claim(web, project)
    assert "Nothing left to review" in flat(done) and "Retry-After" not in done
    disagreement(project)
    claim(web_for(reviewer2), project)  # the only item, held by another reviewer
    wait = claim(web, project)
    assert "Come back in a minute" in flat(wait)
    seconds = int(wait["Retry-After"])
    assert 0 < seconds <= project.lease_seconds + 1
    # The page asks again by itself after that many seconds.
    assert f'hx-trigger="load delay:{seconds}s, submit"' in text_of(wait)


# --- audit: blind first ---------------------------------------------------------------


def test_an_audit_item_is_blind_until_the_reviewer_labels_it(
    audit_project, web, reviewer, agreement, annotator, second
):
    project = audit_project
    item = agreement(project, text="Lovely kettle.", value="pos")
    assert item.state == ItemState.REVIEW
    shown = claim(web, project)
    body, words = text_of(shown), flat(shown)
    assert "Label this item yourself first" in words and "Lovely kettle." in words
    assert 'id="blind-form"' in body and 'id="decision-form"' not in body
    assert 'class="rv-card"' not in body and "Accept A" not in words
    assert card_names(shown) == [] and "second" not in words
    assert "Decided before" not in words
    review = lease(reviewer, project)

    # A resolve before the blind label is refused, and shown.
    early = resolve(web, project, review.pk, {"value": "pos"})
    assert early.status_code == 409 and "Label this audit item yourself" in flat(early)
    nothing = web.post(url(project, f"{review.pk}/blind/"), {}, **HX)
    assert nothing.status_code == 400 and "Nothing is chosen yet" in flat(nothing)

    labelled = web.post(url(project, f"{review.pk}/blind/"), {"value": "neg"}, **HX)
    assert labelled.status_code == 200
    body, words = text_of(labelled), flat(labelled)
    assert 'id="decision-form"' in body and card_names(labelled) == ["annotator", "second"]
    assert "Your label differs from the annotators'" in words
    # The blind label is the preselected gold value.
    assert checked_values(labelled) == ["neg"]
    review.refresh_from_db()
    assert review.blind_value == "neg"

    done = resolve(web, project, review.pk, {"value": "pos"})
    assert done.status_code == 200
    assert GoldRecord.objects.get(item=item).source == GoldSource.AUDIT_CONFIRMED


def test_a_matching_blind_label_says_so(audit_project, web, reviewer, agreement):
    agreement(audit_project, value="pos")
    claim(web, audit_project)
    review = lease(reviewer, audit_project)
    labelled = web.post(url(audit_project, f"{review.pk}/blind/"), {"value": "pos"}, **HX)
    assert "Your label matched the annotators." in flat(labelled)


# --- who may use it ---------------------------------------------------------------------


def routes(project, review_id: int) -> list[tuple[str, str]]:
    return [
        ("get", url(project)),
        ("post", url(project, "next/")),
        ("post", url(project, f"{review_id}/blind/")),
        ("post", url(project, f"{review_id}/resolve/")),
        ("post", url(project, f"{review_id}/release/")),
    ]


@pytest.mark.parametrize("role", ["annotator", "outsider", "lead", "reviewer2"])
def test_everyone_but_the_reviewer_gets_404_on_every_route(
    role, project, reviewer, disagreement, request, web_for
):
    """Annotators, leads who do not review, and outsiders get 404 everywhere;
    another reviewer may open the page but not act on this review."""
    disagreement(project)
    review = leases.review_claim(project=project, user=reviewer).review
    client = web_for(request.getfixturevalue(role))
    checked = routes(project, review.pk)
    if role == "reviewer2":
        checked = checked[2:]
    for method, path in checked:
        for headers in ({}, HX):
            response = getattr(client, method)(path, {"value": "neg", "reason": "x"}, **headers)
            assert response.status_code == 404, (role, method, path, headers)
    review.refresh_from_db()
    assert review.state == ReviewState.ACTIVE
    assert not GoldRecord.objects.exists()


def test_a_review_of_another_project_is_404(
    project, make_project, lead, reviewer, web, disagreement
):
    other = make_project(lead, name="Other")
    services.membership_set(project=other, user=reviewer, roles=["reviewer"])
    disagreement(project)
    review = leases.review_claim(project=project, user=reviewer).review
    path = url(other, f"{review.pk}/resolve/")
    assert web.post(path, {"value": "neg", "reason": "x"}, **HX).status_code == 404


def test_anonymous_goes_to_login_and_scripts_get_401(project, reviewer, disagreement):
    disagreement(project)
    review = leases.review_claim(project=project, user=reviewer).review
    client = Client()
    page = client.get(url(project))
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    for method, path in routes(project, review.pk)[1:]:
        plain = getattr(client, method)(path)
        assert plain.status_code == 302 and "/accounts/login/" in plain["Location"], path
        htmx = getattr(client, method)(path, **HX)
        assert htmx.status_code == 401, path
        assert "Basic" not in htmx["WWW-Authenticate"]


def test_an_archived_project_is_read_only(project, lead, web, reviewer, disagreement):
    disagreement(project)
    review = leases.review_claim(project=project, user=reviewer).review
    services.project_archive(project=project, user=lead)
    assert "Read-only" in flat(web.get(url(project)))
    refused = resolve(web, project, review.pk, {"value": "neg", "reason": "x"})
    assert refused.status_code == 409 and "archived" in flat(refused)
    assert not GoldRecord.objects.exists()


# --- keys ---------------------------------------------------------------------------------


def test_no_label_hotkey_can_be_typed_with_shift_and_a_digit():
    """Accept N is Shift+digit (read by physical key); label hotkeys are
    pressed without Shift. The classification type refuses every hotkey a
    Shift+digit produces on common layouts, and capitals."""
    classification = task_type("classification")
    shifted_digits = set('!@#$%^&*()"§/=£€¤`~') | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for char in sorted(shifted_digits):
        config = {
            "labels": [
                {"key": "a", "name": "A", "hotkey": char},
                {"key": "b", "name": "B"},
            ]
        }
        with pytest.raises(TaskTypeError):
            classification.validate_config(config)
    # And what the review's key map would take: only unshifted letters/digits.
    config = classification.validate_config(CLASSIFICATION_CONFIG)
    shown = keymap(classification, config, 2)
    assert [row["key"] for row in shown["labels"]] == ["p", "n", "u"]
    assert shown["accept"] == [1, 2]
    assert not {row["key"] for row in shown["labels"]} & shifted_digits


def test_the_key_map_shows_label_keys_and_accept_keys(project, web, disagreement):
    disagreement(project)
    body = text_of(claim(web, project))
    dialog = re.search(r'<dialog id="keymap".*?</dialog>', body, flags=re.S)[0]
    assert re.findall(r"<tr><td><kbd>([a-z0-9])</kbd></td>", dialog) == ["p", "n", "u"]
    assert "Choose “" in dialog and "Positive" in dialog
    assert re.findall(r"<kbd>Shift</kbd> \+ <kbd>(\d)</kbd>", dialog) == ["1", "2"]
    assert 'data-accept="1"' in body and 'aria-keyshortcuts="Shift+2"' in body


# --- escaping -------------------------------------------------------------------------------


def test_item_text_and_reasons_are_escaped(project, web, reviewer, disagreement):
    payload = '<script>window.__pwned=1</script><img src=x onerror="alert(1)">'
    first = disagreement(project, text=f"first {payload}")
    review = leases.review_claim(project=project, user=reviewer).review
    resolve(web, project, review.pk, {"value": "neg", "reason": payload})
    assert GoldRecord.objects.get(item=first).reason == payload
    disagreement(project, text=f"second {payload}")
    shown = claim(web, project)
    body = text_of(shown)
    assert "<script>window.__pwned" not in body and "<img src=x" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
    # The precedent repeats both the item text and the reason, escaped too.
    assert body.count("&lt;script&gt;") >= 3


# --- helpers that need fixtures --------------------------------------------------------------


def lease_review(web, project, reviewer) -> Review:
    claim(web, project)
    review = lease(reviewer, project)
    assert review is not None
    return review
