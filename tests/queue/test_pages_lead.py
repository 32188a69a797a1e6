"""The lead's side of the queue in the browser: the Queue tab (leases and
their release, items that cannot be finished and their override, skips per
annotator, items by state), an item's revisions, and the queue settings.

Queue state is made through the queue's services, as annotators make it.
Over 500 lines: one file, so its module-scoped fixtures are built once.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Assignment
from annotation.queue.claim import assignment_claim
from annotation.queue.release import assignment_draft, assignment_skip
from annotation.queue.revisions import annotation_edit, annotation_undo
from annotation.queue.submit import annotation_submit
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from projects.models import Job
from projects.services import project_config
from tests.page_forms import settings_form
from tests.projects.conftest import XSS_PAYLOADS, Pages

pytestmark = pytest.mark.django_db

pages = Pages()


@pytest.fixture
def bee(make_user, project):
    """A second annotator, so the project has as many as its overlap (2)."""
    person = make_user("bee")
    services.membership_set(project=project, user=person, roles=["annotator"])
    return person


def queue_url(project) -> str:
    return f"/projects/{project.pk}/queue/"


def release_url(project, assignment) -> str:
    return f"/projects/{project.pk}/queue/leases/{assignment.pk}/release/"


def override_url(project, item) -> str:
    return f"/projects/{project.pk}/queue/items/{item.pk}/override/"


def item_url(project, item) -> str:
    return f"/projects/{project.pk}/items/{item.pk}/"


def claim(project, user):
    return assignment_claim(project=project, user=user).assignment


def table(response, table_id: str) -> str:
    """The text of one table of the page, tags stripped, spaces squeezed."""
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', pages.text(response), re.S)
    assert match, f"no table #{table_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match[0]).split())


# --- the Queue tab --------------------------------------------------------------


def test_lead_sees_who_holds_what(web_for, project, lead, annotator, bee, add_items):
    add_items(project, 3)
    mine, theirs = claim(project, annotator), claim(project, bee)
    assignment_draft(assignment=theirs, user=bee, value="pos")

    response = web_for(lead).get(queue_url(project))

    assert response.status_code == 200
    body = pages.text(response)
    assert 'id="tab-queue"' in body and 'aria-current="page">Queue<' in body
    leases = table(response, "leases")
    assert f"annotator {mine.item_id}" in leases
    assert f"bee {theirs.item_id}" in leases
    assert "never" in leases  # annotator saved no draft; bee did
    assert f'id="release-{mine.pk}"' in body and f'id="release-{theirs.pk}"' in body
    # Items by state come from the counters: three waiting, nothing else.
    states = table(response, "item-states")
    assert "Waiting for annotation 3" in states and "Gold 0" in states
    assert "Total 3" in states


def test_the_page_costs_the_same_for_one_lease_and_for_many(
    web_for, project, lead, annotator, annotators, add_items
):
    add_items(project, 4)
    client = web_for(lead)
    claim(project, annotator)
    # A skip in both cases: the unfinishable list looks at skipped items.
    assignment_skip(assignment=claim(project, annotators[4]), user=annotators[4], reason="no")
    with CaptureQueriesContext(connection) as one:
        client.get(queue_url(project))
    for person in annotators[:3]:
        assignment_skip(assignment=claim(project, person), user=person, reason="no")
        claim(project, person)
    with CaptureQueriesContext(connection) as many:
        response = client.get(queue_url(project))
    assert table(response, "leases").count("Release") == 4
    assert len(many) == len(one)


def test_queue_tab_is_for_leads_only(web_for, project, lead, annotator, reviewer):
    assert 'id="tab-queue"' in pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    for member in (annotator, reviewer):
        assert 'id="tab-queue"' not in pages.text(web_for(member).get(f"/projects/{project.pk}/"))


def test_htmx_asks_for_the_section_only(web_for, project, lead):
    response = web_for(lead).get(queue_url(project), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert pages.is_partial(response)
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    ("role", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_members_and_outsiders_get_no_queue_page(web_for, project, request, role, status):
    response = web_for(request.getfixturevalue(role)).get(queue_url(project))
    assert response.status_code == status


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.get(queue_url(project))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- releasing a lease ----------------------------------------------------------------


def test_lead_releases_a_lease_and_the_slot_comes_back(
    web_for, project, lead, annotator, add_items
):
    add_items(project, 1)
    lease = claim(project, annotator)
    before = Item.objects.get(pk=lease.item_id).free_slots
    client = web_for(lead)

    response = client.post(release_url(project, lease))

    assert response.status_code == 302 and response["Location"] == queue_url(project)
    assert Item.objects.get(pk=lease.item_id).free_slots == before + 1
    assert Assignment.objects.get(pk=lease.pk).state == "released"
    page = client.get(response["Location"])
    assert "Released annotator’s lease on item “item 0”" in pages.messages(page)
    assert 'id="no-leases"' in pages.text(page)


def test_htmx_release_answers_with_the_page_and_its_message(
    web_for, project, lead, annotator, add_items
):
    add_items(project, 1)
    lease = claim(project, annotator)

    response = web_for(lead).post(release_url(project, lease), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert pages.is_partial(response)
    assert response["HX-Replace-Url"] == queue_url(project)
    assert "the item is back in the queue" in pages.messages(response)
    # The button pressed is gone: the table's heading takes the focus.
    assert 'id="leases-heading" tabindex="-1" data-focus-on-swap' in pages.text(response)


def test_release_of_an_ended_lease_is_a_409_and_gives_nothing_back(
    web_for, project, lead, annotator, add_items
):
    add_items(project, 2)
    lease = claim(project, annotator)
    annotation_submit(assignment=lease, user=annotator, value="pos")
    free = Item.objects.get(pk=lease.item_id).free_slots

    response = web_for(lead).post(release_url(project, lease), HTTP_HX_REQUEST="true")

    assert response.status_code == 409
    assert "Nothing was released" in pages.messages(response)
    assert Assignment.objects.get(pk=lease.pk).state == "submitted"
    assert Item.objects.get(pk=lease.item_id).free_slots == free


@pytest.mark.parametrize(
    ("role", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_only_a_lead_releases(web_for, project, annotator, add_items, request, role, status):
    add_items(project, 1)
    lease = claim(project, annotator)

    response = web_for(request.getfixturevalue(role)).post(release_url(project, lease))

    assert response.status_code == status
    assert Assignment.objects.get(pk=lease.pk).state == "active"


def test_a_lease_of_another_project_is_not_found(
    web_for, make_project, project, lead, outsider, annotator, add_items
):
    add_items(project, 1)
    lease = claim(project, annotator)
    theirs = make_project(outsider, name="Theirs")

    response = web_for(outsider).post(release_url(theirs, lease))

    assert response.status_code == 404
    assert Assignment.objects.get(pk=lease.pk).state == "active"


def test_release_is_refused_on_an_archived_project(web_for, project, lead, annotator, add_items):
    add_items(project, 1)
    lease = claim(project, annotator)
    services.project_archive(project=project, user=lead)
    client = web_for(lead)

    response = client.post(release_url(project, lease))

    assert response.status_code == 409
    assert "read-only" in pages.messages(response)
    assert Assignment.objects.get(pk=lease.pk).state == "active"
    # The page stays readable, without its buttons.
    page = client.get(queue_url(project))
    assert page.status_code == 200
    assert f'id="release-{lease.pk}"' not in pages.text(page)


def test_release_needs_post(web_for, project, lead, annotator, add_items):
    add_items(project, 1)
    lease = claim(project, annotator)
    assert web_for(lead).get(release_url(project, lease)).status_code == 405


# --- items that cannot be finished ------------------------------------------------------


def test_too_few_annotators_is_said_plainly(web_for, project, lead):
    # One annotator for an overlap of two.
    body = pages.text(web_for(lead).get(queue_url(project)))
    assert 'id="too-few-annotators"' in body
    assert "has 1 annotator and an overlap of 2" in body


def test_no_banner_when_there_are_enough_annotators(web_for, project, lead, bee):
    assert 'id="too-few-annotators"' not in pages.text(web_for(lead).get(queue_url(project)))


def test_a_skipped_item_nobody_can_finish_is_listed_with_its_overrides(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    # Bee skips; only the annotator is left for two free slots.
    assignment_skip(assignment=claim(project, bee), user=bee, reason="unclear")

    response = web_for(lead).get(queue_url(project))

    rows = table(response, "unfinishable")
    assert f"{item.pk} — 0 2 1" in rows
    body = pages.text(response)
    assert f'id="compare-{item.pk}"' in body and f'id="exclude-{item.pk}"' in body
    assert "Compare with what it has" in body


def test_compare_with_no_annotations_is_a_409_with_the_reason(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    assignment_skip(assignment=claim(project, bee), user=bee, reason="unclear")

    response = web_for(lead).post(
        override_url(project, item), {"action": "compare"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 409
    assert "no annotations to compare" in pages.messages(response)
    assert Item.objects.get(pk=item.pk).state == "open"


def test_lead_compares_an_item_with_the_annotation_it_has(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    annotation_submit(assignment=claim(project, annotator), user=annotator, value="pos")
    assignment_skip(assignment=claim(project, bee), user=bee, reason="unclear")
    client = web_for(lead)

    response = client.post(override_url(project, item), {"action": "compare"})

    assert response.status_code == 302 and response["Location"] == queue_url(project)
    item.refresh_from_db()
    assert (item.state, item.outcome, item.overlap) == ("gold", "agreed", 1)
    page = client.get(queue_url(project))
    assert f"Item {item.pk} was compared with the 1 annotation it has" in pages.messages(page)
    assert "Gold 1" in table(page, "item-states")


def test_lead_excludes_an_item_and_a_second_override_is_a_409(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 2)
    item = Item.objects.filter(project=project).order_by("pk").first()
    assignment_skip(assignment=claim(project, bee), user=bee, reason="unclear")
    client = web_for(lead)

    response = client.post(
        override_url(project, item), {"action": "exclude"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert f"Item {item.pk} is excluded" in pages.messages(response)
    assert Item.objects.get(pk=item.pk).state == "excluded"
    states = table(response, "item-states")
    assert "Excluded 1" in states and "Waiting for annotation 1" in states
    assert f'id="exclude-{item.pk}"' not in pages.text(response)

    again = client.post(override_url(project, item), {"action": "compare"}, HTTP_HX_REQUEST="true")
    assert again.status_code == 409
    assert "not waiting for annotations any more" in pages.messages(again)


def test_an_unknown_override_is_a_400(web_for, project, lead, add_items):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    response = web_for(lead).post(override_url(project, item), {"action": "delete"})
    assert response.status_code == 400
    assert "choose “Compare with what it has” or “Exclude”" in pages.messages(response)
    assert Item.objects.get(pk=item.pk).state == "open"


@pytest.mark.parametrize(
    ("role", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_only_a_lead_overrides(web_for, project, add_items, request, role, status):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    response = web_for(request.getfixturevalue(role)).post(
        override_url(project, item), {"action": "exclude"}
    )
    assert response.status_code == status
    assert Item.objects.get(pk=item.pk).state == "open"


def test_an_item_with_one_annotation_and_one_skip_is_listed(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    annotation_submit(assignment=claim(project, annotator), user=annotator, value="pos")
    assignment_skip(assignment=claim(project, bee), user=bee, reason="unclear")

    response = web_for(lead).get(queue_url(project))

    # One annotation, one free slot, nobody left to fill it.
    assert f"{item.pk} — 1 1 0" in table(response, "unfinishable")


# --- annotations and skips per annotator -----------------------------------------------


def test_skips_per_annotator_are_shown(web_for, project, lead, annotator, bee, add_items):
    add_items(project, 3)
    annotation_submit(assignment=claim(project, annotator), user=annotator, value="pos")
    annotation_submit(assignment=claim(project, annotator), user=annotator, value="neg")
    assignment_skip(assignment=claim(project, bee), user=bee, reason="boring")
    assignment_skip(assignment=claim(project, bee), user=bee, reason="boring")
    annotation_submit(assignment=claim(project, bee), user=bee, value="pos")

    counts = table(web_for(lead).get(queue_url(project)), "annotator-counts")

    assert "annotator 2 0 0%" in counts
    assert "bee 1 2 67%" in counts


# --- an item's revisions ----------------------------------------------------------------


def test_the_item_page_lists_every_revision_of_every_annotator(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    lease = claim(project, annotator)
    first = annotation_submit(assignment=lease, user=annotator, value="pos").annotation
    annotation_edit(annotation=first, user=annotator, value="neg")
    annotation_undo(annotation=first, user=annotator)
    annotation_submit(assignment=lease, user=annotator, value="neu")
    annotation_submit(assignment=claim(project, bee), user=bee, value="pos")

    response = web_for(lead).get(item_url(project, item))

    assert response.status_code == 200
    body = pages.text(response)
    assert 'aria-current="page">Items<' in body
    mine = re.search(r'id="person-\d+">annotator .*?</table>', body, re.S)[0]
    texts = " ".join(re.sub(r"<[^>]+>", " ", mine).split())
    assert re.search(
        r"1 Submitted Positive \"pos\" .*"
        r"2 Edited Negative \"neg\" .*"
        r"3 Withdrawn withdrawn .*"
        r"4 Submitted Neutral \"neu\"",
        texts.replace("&quot;", '"'),
    ), texts
    theirs = re.search(r'id="person-\d+">bee .*?</table>', body, re.S)[0]
    assert "Positive" in theirs and "Edited" not in theirs
    # Both annotations are in: the item was compared (leads see the outcome).
    assert "Disagreed" in body


def test_the_item_page_shows_a_skip_and_its_reason(
    web_for, project, lead, annotator, bee, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    assignment_skip(assignment=claim(project, bee), user=bee, reason="not English")

    body = pages.text(web_for(lead).get(item_url(project, item)))

    assert "Skipped because:" in body and "not English" in body
    assert "No annotation." in body


def test_the_items_list_links_to_the_item_page(web_for, project, lead, add_items):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/items/"))
    assert f'href="{item_url(project, item)}"' in body


@pytest.mark.parametrize(
    ("role", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_revisions_are_for_leads_only(web_for, project, add_items, request, role, status):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    response = web_for(request.getfixturevalue(role)).get(item_url(project, item))
    assert response.status_code == status


def test_an_item_of_another_project_is_not_found(
    web_for, make_project, project, outsider, add_items
):
    add_items(project, 1)
    item = Item.objects.get(project=project)
    theirs = make_project(outsider, name="Theirs")
    assert web_for(outsider).get(item_url(theirs, item)).status_code == 404


# --- queue settings -----------------------------------------------------------------------


def test_settings_show_the_queue_order_and_seed(web_for, project, lead):
    services.project_update(project=project, user=lead, queue_order="random", queue_seed=42)
    response = web_for(lead).get(f"/projects/{project.pk}/settings/")
    body = pages.text(response)
    assert re.search(r'<option value="random" selected>', body)
    assert pages.input_value(response, "id_queue_seed") == "42"
    assert 'id="requeue-note"' in body and "re-ranks the queue in the background" in body


def test_lead_changes_the_queue_order_and_a_requeue_starts(web_for, project, lead):
    client = web_for(lead)
    response = client.post(
        f"/projects/{project.pk}/settings/save/",
        settings_form(queue_order="random", queue_seed="7"),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.queue_order, project.queue_seed) == ("random", 7)
    assert Job.objects.filter(project=project, kind="requeue").count() == 1
    message = pages.messages(client.get(response["Location"]))
    assert "Settings saved. The queue is re-ranked in the background." in message


def test_saving_without_a_queue_change_starts_no_requeue(web_for, project, lead):
    client = web_for(lead)
    response = client.post(f"/projects/{project.pk}/settings/save/", settings_form(name="Other"))
    assert response.status_code == 302
    assert not Job.objects.filter(project=project, kind="requeue").exists()
    assert "re-ranked" not in pages.messages(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("override", "field_id", "reason"),
    [
        ({"queue_order": "sideways"}, "id_queue_order", "Queue order must be one of the choices"),
        ({"queue_order": ""}, "id_queue_order", "Queue order must be one of the choices"),
        ({"queue_seed": "abc"}, "id_queue_seed", "Random seed must be a whole number from 0"),
        ({"queue_seed": "-1"}, "id_queue_seed", "Random seed must be a whole number from 0"),
        ({"queue_seed": "2147483648"}, "id_queue_seed", "must be a whole number from 0"),
    ],
)
def test_a_bad_queue_setting_is_shown_on_its_field(
    web_for, project, lead, override, field_id, reason
):
    response = web_for(lead).post(
        f"/projects/{project.pk}/settings/save/", settings_form(name="Not saved", **override)
    )
    assert response.status_code == 400
    assert reason in pages.field_errors(response, field_id)
    project.refresh_from_db()
    assert (project.name, project.queue_order) == ("Sentiment", "import")


def test_a_form_without_the_queue_fields_keeps_the_queue(web_for, project, lead):
    services.project_update(project=project, user=lead, queue_order="priority")
    body = settings_form(name="Renamed")
    del body["queue_order"], body["queue_seed"]
    response = web_for(lead).post(f"/projects/{project.pk}/settings/save/", body)
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.queue_order) == ("Renamed", "priority")


def test_the_overview_names_the_order_and_links_leads_to_the_queue(
    web_for, project, lead, annotator
):
    services.project_update(project=project, user=lead, queue_order="random", queue_seed=3)
    lead_body = pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    assert "Random (seeded) (seed 3)" in lead_body
    assert 'id="overview-queue-link"' in lead_body
    assert 'id="overview-queue-link"' not in pages.text(
        web_for(annotator).get(f"/projects/{project.pk}/")
    )


# --- escaping -----------------------------------------------------------------------------


def test_usernames_item_text_and_reasons_are_escaped(web_for, project, lead, make_user):
    evil = make_user(XSS_PAYLOADS[0])
    services.membership_set(project=project, user=evil, roles=["annotator"])
    services.membership_set(project=project, user=make_user(XSS_PAYLOADS[1]), roles=["annotator"])
    items_create(
        project=project,
        rows=[
            ItemRow(
                data={"text": payload},
                external_id=f"ext{i}{payload}",
                meta={payload: payload},
            )
            for i, payload in enumerate(XSS_PAYLOADS)
        ],
        config=project_config(project).config,
    )
    skipped = claim(project, evil)
    assignment_skip(assignment=skipped, user=evil, reason=XSS_PAYLOADS[2])
    held = claim(project, evil)
    client = web_for(lead)

    queue_page = client.get(queue_url(project))
    assert queue_page.status_code == 200
    pages.assert_inert(queue_page)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in pages.text(queue_page)
    for item_id in (skipped.item_id, held.item_id):
        page = client.get(f"/projects/{project.pk}/items/{item_id}/")
        assert page.status_code == 200
        pages.assert_inert(page)
    released = client.post(release_url(project, held), HTTP_HX_REQUEST="true")
    pages.assert_inert(released)
