"""The lead's Agreement page: every section of the latest report with the
right numbers, undefined figures said as such, user content escaped (in the
tables and in the SVG), the "No report yet" state, "Compute now" and the
running job's progress card, and who may see it. Then agreement/charts.py on
its own: empty, one point, negative and undefined values, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from django.utils.safestring import SafeString

from agreement import charts
from agreement.reports import ReportParams
from agreement.services import latest_report, report_run
from projects import services
from projects.jobs import job_create, run_job
from projects.models import Job

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_url(project) -> str:
    return f"/projects/{project.pk}/agreement/"


def run_url(project) -> str:
    return f"/projects/{project.pk}/agreement/run/"


def compute(project, lead) -> Job:
    job = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=200).as_dict()
    )
    run_job(job.pk, report_run)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


class _Tables(HTMLParser):
    """The text of every table's cells by the table's id: rows of cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture
def known(seven_items, project, lead):
    """The report of the seven items (tests/agreement/conftest.py)."""
    compute(project, lead)
    return latest_report(project)


# --- the page, with a report -------------------------------------------------------


def test_the_page_shows_every_section_with_its_numbers(project, lead, known, web_for):
    response = web_for(lead).get(page_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    result = known.result
    # The report's time, size, computation time and parameters.
    assert "13 annotations on 7 items" in html
    assert "6 with two or more annotations, 1 with one; 3 annotators" in html
    assert re.search(r"computed in \d+(\.\d)? m?s", html)
    assert "200 bootstrap resamples" in html and "seed 0" in html
    # The headline, its interval, reading and the thresholds' source.
    assert charts.number(result["headline"]["value"]) in html
    assert "read with caution" in html and "small n" in html
    assert "Krippendorff, K. (2004)" in html and "Landis" in html
    # Both plots, with their hidden tables of the same numbers.
    assert html.count('role="img"') == 2
    found = tables(html)
    assert [r[0] for r in found["versions-table"][1:]] == ["v1", "v2", "mixed"]
    assert found["weeks-table"][1][3] == "6"
    # Per label, worst first, with n.
    labels = found["per-label"][1:]
    shown = [row[1] for row in labels]
    assert shown == [charts.number(r["value"]) for r in result["per_label"]]
    assert {row[0] for row in labels} == {"Positive", "Negative", "Neutral"}
    intervals = [
        "none" if r["low"] is None else f"{charts.number(r['low'])} to {charts.number(r['high'])}"
        for r in result["per_label"]
    ]
    assert [row[2] for row in labels] == intervals
    assert all(row[3].startswith("6") for row in labels)


def test_the_pair_matrix_names_people_and_writes_kappa(project, lead, people, known, web_for):
    html = web_for(lead).get(page_url(project)).content.decode()
    matrix = tables(html)["pair-matrix"]
    names = matrix[0][1:]
    assert sorted(names) == sorted(p.username for p in people.values())
    row = {r[0]: dict(zip(names, r[1:], strict=True)) for r in matrix[1:]}
    A, B, C = (people[x].username for x in "ABC")
    assert row[A][B] == row[B][A] == "κ 0.40 67% agree · n=3 · small n"
    assert row[A][C] == "κ 1.00 100% agree · n=2 · small n"
    assert row[B][C].startswith("κ 0.00 0% agree · n=1")
    assert row[A][A] == "— same annotator"
    assert 'class="heat heat--2"' in html  # 0.40 shaded, the figure still written


def test_confusion_and_against_gold(project, lead, people, known, web_for):
    html = web_for(lead).get(page_url(project)).content.decode()
    found = tables(html)
    assert found["confusion"][0][1:] == ["Negative", "Neutral", "Positive", "Total"]
    # [[2, 0, 2], [0, 2, 0], [2, 0, 4]]: the diagonal marked.
    assert found["confusion"][1:] == [
        ["Negative", "2 ✓ (agree)", "0", "2", "4"],
        ["Neutral", "0", "2 ✓ (agree)", "0", "2"],
        ["Positive", "2", "0", "4 ✓ (agree)", "6"],
    ]
    gold = {row[0]: row[1:] for row in found["against-gold"][1:]}
    A, B, C = (people[x].username for x in "ABC")
    assert gold[A][0] == "0%" and gold[A][2].startswith("1")
    assert gold[B][0] == "100%" and gold[B][2].startswith("2")
    assert gold[C][0] == "0%"


def test_the_page_reads_the_report_in_few_queries(
    project, lead, known, web_for, django_assert_max_num_queries
):
    client = web_for(lead)
    client.get(page_url(project))
    # Session, user, access (3), the report, the running and the latest job,
    # and the usernames in one query however many pairs there are; the
    # session's save (3).
    with django_assert_max_num_queries(12):
        client.get(page_url(project))


def test_undefined_figures_say_undefined_with_their_reason(
    project, lead, people, submit_to, web_for
):
    # Everyone says "pos": one category only, so α and κ are undefined.
    for text in ("one", "two"):
        submit_to(people["A"], text, "pos")
        submit_to(people["B"], text, "pos")
    compute(project, lead)
    html = web_for(lead).get(page_url(project)).content.decode()
    headline = re.search(r'id="headline".*?</section>', html, re.S).group(0)
    assert "undefined" in headline and "no expected disagreement" in headline
    assert "0.00" not in headline
    assert "κ undefined" in html and "one category only" in html
    assert "nothing pairable" not in headline
    matrix = tables(html)["pair-matrix"]
    assert matrix[1][2].startswith("κ undefined")
    # The week's plot says "undefined" instead of drawing a point at 0.
    chart = re.search(r'id="weeks-chart".*?</svg>', html, re.S).group(0)
    assert ">undefined</text>" in chart and "<circle" not in chart


def test_user_content_is_escaped(make_project, make_user, lead, web_for):
    config = {
        "multi_label": False,
        "labels": [
            {"key": "pos", "name": "<script>alert(1)</script>"},
            {"key": "neg", "name": "Negative"},
        ],
    }
    project = make_project(lead, name="Escapes", config=config)
    bold, other = make_user("<b>bold</b>"), make_user("plain")
    for user in (bold, other):
        services.membership_set(project=project, user=user, roles=["annotator"])
    for text, a, b in (("one", "pos", "neg"), ("two", "pos", "pos"), ("three", "neg", "neg")):
        _submit(project, bold, text, a)
        _submit(project, other, text, b)
    compute(project, lead)
    html = web_for(lead).get(page_url(project)).content.decode()
    assert "<script>alert(1)</script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def _submit(project, user, text: str, value) -> None:
    from django.db import transaction
    from django.utils import timezone

    from annotation.queue.claim import take
    from annotation.queue.submit import annotation_submit
    from items.models import Item
    from items.services import ItemRow, items_create

    if not Item.objects.filter(project=project, data__text=text).exists():
        config = services.project_config(project).config
        items_create(project=project, rows=[ItemRow({"text": text})], config=config)
    item = Item.objects.get(project=project, data__text=text)
    with transaction.atomic():
        assignment = take(project, user, item.pk, timezone.now())
    annotation_submit(assignment=assignment, user=user, value=value)


# --- no report, compute now, the progress card -----------------------------------------


def test_no_report_yet(project, lead, web_for):
    html = web_for(lead).get(page_url(project)).content.decode()
    assert "No report yet" in html and 'id="compute-now"' in html
    assert 'id="agreement-job"' not in html and 'id="pair-matrix"' not in html
    # The tab, through htmx: the section only.
    section = web_for(lead).get(page_url(project), **HTMX).content.decode()
    assert "<html" not in section and "No report yet" in section


def test_compute_now_queues_one_job_and_redirects(project, lead, web_for):
    client = web_for(lead)
    first = client.post(run_url(project))
    assert first.status_code == 302 and first["Location"] == page_url(project)
    second = client.post(run_url(project))
    assert second.status_code == 302
    jobs = Job.objects.filter(project=project, kind="agreement")
    assert jobs.count() == 1 and jobs.get().status == "queued"
    html = client.get(page_url(project)).content.decode()
    assert "A computation is already under way" in html
    assert 'id="agreement-job"' in html and 'id="compute-now"' not in html
    assert f'hx-get="{page_url(project)}?job={jobs.get().pk}"' in html
    assert 'hx-trigger="every 1s"' in html and "<progress" in html


def test_compute_now_from_htmx_answers_with_the_section(project, lead, web_for):
    response = web_for(lead).post(run_url(project), **HTMX)
    assert response.status_code == 200
    assert response["HX-Replace-Url"] == page_url(project)
    html = response.content.decode()
    assert "<html" not in html and 'id="agreement-job"' in html


def test_the_card_polls_itself_until_the_report_is_ready(project, lead, known, web_for):
    client = web_for(lead)
    client.post(run_url(project))
    job = Job.objects.get(project=project, kind="agreement", status="queued")
    poll = {**HTMX, "HTTP_HX_TARGET": "agreement-job"}
    running = client.get(f"{page_url(project)}?job={job.pk}", **poll)
    html = running.content.decode()
    assert running.status_code == 200 and html.lstrip().startswith("<article")
    assert "HX-Retarget" not in running and "Waiting for a worker" in html
    run_job(job.pk, report_run)
    done = client.get(f"{page_url(project)}?job={job.pk}", **poll)
    assert done["HX-Retarget"] == "#project-page" and done["HX-Reswap"] == "innerHTML"
    html = done.content.decode()
    assert "The agreement report is ready." in html
    assert 'id="pair-matrix"' in html and 'id="agreement-job"' not in html


def test_a_failed_computation_is_said(project, lead, known, web_for):
    web_for(lead).post(run_url(project))
    Job.objects.filter(project=project, kind="agreement", status="queued").update(
        status="failed", error="the worker ran out of <memory>"
    )
    html = web_for(lead).get(page_url(project)).content.decode()
    assert 'id="agreement-failed"' in html and "ran out of &lt;memory&gt;" in html
    assert 'id="pair-matrix"' in html  # the earlier report is still shown


# --- who may see it ---------------------------------------------------------------------


def test_only_leads_see_the_page_and_the_tab(project, lead, annotator, reviewer, outsider, web_for):
    url = page_url(project)
    lead_page = web_for(lead).get(url)
    assert lead_page.status_code == 200 and 'id="tab-agreement"' in lead_page.content.decode()
    assert web_for(annotator).get(url).status_code == 403
    assert web_for(reviewer).get(url).status_code == 403
    assert web_for(outsider).get(url).status_code == 404
    anonymous = web_for().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    other_tabs = web_for(reviewer).get(f"/projects/{project.pk}/gold/").content.decode()
    assert 'id="tab-agreement"' not in other_tabs


def test_only_leads_compute(project, annotator, reviewer, outsider, web_for):
    url = run_url(project)
    assert web_for(annotator).post(url).status_code == 403
    assert web_for(reviewer).post(url).status_code == 403
    assert web_for(outsider).post(url).status_code == 404
    assert web_for().post(url).status_code == 302
    assert not Job.objects.filter(project=project, kind="agreement").exists()


# --- agreement/charts.py -------------------------------------------------------------------


def svg(points, **kwargs) -> ET.Element:
    markup = charts.trend_plot(points, title="α per week", **kwargs)
    assert isinstance(markup, SafeString)
    return parse(markup)


def parse(markup: str) -> ET.Element:
    # Our own markup, parsed to show it is well-formed XML (this raises if not).
    return ET.fromstring(markup)  # noqa: S314


NS = "{http://www.w3.org/2000/svg}"


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_chart_without_points():
    root = svg([])
    assert root.get("role") == "img" and root.get("aria-label") == "α per week: no data."
    assert root.find(f"{NS}title").text == "α per week"
    assert "No data yet" in texts(root)
    assert {"reliable ≥ .800", "tentative ≥ .667"} <= set(texts(root))
    assert root.find(f"{NS}circle") is None


def test_chart_with_one_point():
    root = svg([charts.Point("2026-W47", 0.725, 40, low=0.61, high=0.83)])
    assert "0.72" in texts(root) or "0.73" in texts(root)
    assert "2026-W47" in texts(root) and "n=40" in texts(root)
    assert "small n" not in texts(root)
    (circle,) = root.iter(f"{NS}circle")
    assert circle.get("fill") == "#1b1f24"  # filled: n is not small
    assert float(circle.get("cy")) == charts._y(0.725)
    # Six grid lines, two axes, two reference lines, the whisker and its caps.
    assert len(root.findall(f"{NS}line")) == 6 + 2 + 2 + 1 + 2
    assert "0.72" in root.get("aria-label") or "0.73" in root.get("aria-label")


def test_chart_reference_lines_are_dashed_differently():
    root = svg([charts.Point("v1", 0.9, 3, small=True)])
    dashes = {line.get("stroke-dasharray") for line in root.iter(f"{NS}line")} - {None}
    assert dashes == {"6 3", "2 3"}
    (circle,) = root.iter(f"{NS}circle")
    assert circle.get("fill") == "#ffffff" and "small n" in texts(root)


def test_chart_clips_negative_values_at_the_axis():
    root = svg([charts.Point("v1", -0.25, 40, low=-0.5, high=0.1)])
    assert root.find(f"{NS}circle") is None
    (marker,) = [p for p in root.iter(f"{NS}path") if p.get("class") == "chart__below"]
    # The triangle's tip sits on the axis; nothing is drawn below it.
    assert marker.get("d").split()[-2] == str(charts._y(0))
    assert "−0.25" in texts(root) and "below 0" in texts(root)
    bottom = charts._y(0)
    for line in root.iter(f"{NS}line"):
        assert float(line.get("y1")) <= bottom and float(line.get("y2")) <= bottom
    # The interval's lower end is clipped: one cap (the top) besides the whisker.
    whisker_x = charts._x(0)
    caps = [
        line
        for line in root.iter(f"{NS}line")
        if float(line.get("x1")) == whisker_x - 5 and line.get("y1") == line.get("y2")
    ]
    assert len(caps) == 1


def test_chart_writes_undefined_for_none():
    root = svg(
        [
            charts.Point("2026-W01", None, 0, reason="nothing pairable"),
            charts.Point("2026-W02", 0.5, 50),
        ],
        connect=True,
    )
    assert "undefined" in texts(root)
    assert len(list(root.iter(f"{NS}circle"))) == 1
    assert root.find(f"{NS}polyline") is None  # one defined point: nothing to connect
    assert "2026-W01 undefined (n=0)" in root.get("aria-label")


def test_chart_escapes_labels_and_title():
    markup = charts.trend_plot([charts.Point("<script>x</script>", 0.5, 31)], title='<b>"t"</b>')
    assert "<script>" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup and "&lt;b&gt;&quot;t&quot;&lt;/b&gt;" in markup
    parse(markup)


def test_chart_connects_weeks_and_lists_long_runs_in_the_table():
    points = [charts.Point(f"2026-W{i:02d}", 0.5 + i / 100, 40) for i in range(1, 16)]
    root = svg(points, connect=True)
    assert root.find(f"{NS}polyline") is not None
    assert "and 3 more in the table below" in root.get("aria-label")
    assert int(root.get("width")) == charts._width(15)


def test_number_formats():
    assert charts.number(None) == "undefined"
    assert charts.number(0.4) == "0.40" and charts.number(-0.5) == "−0.50"
    assert charts.number(-0.001) == "0.00"  # no "−0.00"
    assert charts.percent(2 / 3) == "67%" and charts.percent(None) == "undefined"
    assert [charts.shade(v) for v in (None, -0.1, 0.0, 0.39, 0.4, 0.79, 0.8, 1.0)] == [
        "heat--none", "heat--neg", "heat--0", "heat--1", "heat--2", "heat--3", "heat--4",
        "heat--4",
    ]  # fmt: skip
