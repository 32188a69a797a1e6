"""The overview tab: description, settings, labels, item counts and
progress for every member; annotations per annotator for leads only."""

from __future__ import annotations

import re

import pytest

from projects import services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hasher")]


def test_counts_progress_and_settings(web_for, pages, project, lead, add_items):
    add_items(project, ["one", "two", "three"])
    services.project_update(
        project=project, user=lead, description="Line one\nLine two", audit_sample=0.05
    )
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    assert "<p>Line one<br>Line two</p>" in body
    assert re.search(r'Waiting for annotation</th><td class="num">3</td>', body)
    assert re.search(r'Total</th><td class="num">3</td>', body)
    assert '<progress max="100" value="0" aria-labelledby="progress-text">' in body
    assert "<strong>0%</strong> gold — 0 of 3 items" in body
    assert "<dd>2 annotators per item</dd>" in body
    assert "<dd>5% of consensus items</dd>" in body
    assert "<dd>30 min</dd>" in body
    assert "<dd>Unanimous</dd>" in body


def test_labels_show_name_key_and_hotkey_in_text(web_for, pages, project, annotator):
    body = pages.text(web_for(annotator).get(f"/projects/{project.pk}/"))
    chip = re.search(r'<span class="label-chip" data-color="#2e7d32">.*?</kbd></span>', body)[0]
    assert '<span class="label-chip__name">Positive</span>' in chip
    assert ">pos</code>" in chip and ">p</kbd>" in chip
    # A label without a colour still has its name; its colour is just absent.
    assert (
        '<span class="label-chip" data-color=""><span class="label-chip__swatch" aria-hidden="true"></span><span class="label-chip__name">Neutral</span>'
        in body
    )


def test_leads_see_annotations_per_annotator(
    web_for, pages, project, lead, annotator, reviewer, annotate
):
    annotate(project, (annotator, "pos"), (reviewer, "neg"), text="a")
    annotate(project, (annotator, "neu"), text="b")
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    assert "Annotations per annotator" in body
    assert '<tr><th scope="row">annotator</th><td class="num">2</td></tr>' in body
    assert '<tr><th scope="row">reviewer</th><td class="num">1</td></tr>' in body


def test_the_stats_api_gives_the_same_figures(api_for, project, lead, annotator, annotate):
    annotate(project, (annotator, "pos"), text="a")
    body = api_for(lead).get(f"/api/v1/projects/{project.pk}/stats/").json()
    assert body["annotations_per_annotator"] == [
        {"user": annotator.pk, "username": "annotator", "annotations": 1, "skips": 0}
    ]


@pytest.mark.parametrize("who", ["annotator", "reviewer"])
def test_other_members_do_not_see_per_annotator_figures(
    request, web_for, pages, project, annotate, who
):
    annotate(project, (request.getfixturevalue("annotator"), "pos"))
    body = pages.text(web_for(request.getfixturevalue(who)).get(f"/projects/{project.pk}/"))
    assert "Annotations per annotator" not in body
    assert f"Your roles: <strong>{who.capitalize()}</strong>" in body
    assert 'id="tab-settings"' not in body  # no tab that would answer 403


def test_tabs_keep_href_beside_hx_get(web_for, pages, project, lead):
    body = pages.text(web_for(lead).get(f"/projects/{project.pk}/"))
    for tab, url in [
        ("overview", ""),
        ("guidelines", "guidelines/"),
        ("members", "members/"),
        ("settings", "settings/"),
    ]:
        href = f"/projects/{project.pk}/{url}"
        assert f'id="tab-{tab}" href="{href}" hx-get="{href}" hx-push-url="true"' in body
    assert 'id="tab-overview" href' in body and 'aria-current="page">Overview</a>' in body
