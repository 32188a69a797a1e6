"""The lead's Agreement page: the latest agreement report, read for a
person — the headline with its interval and reading, trends per week and
per guideline version (agreement/charts.py), the labels worst first, the
annotator pairs as a heat map, the confusion matrix, each annotator against
gold — and a "Compute now" button with the running job's live progress.

As in review/views/gold.py: a view checks access through projects.access, calls
agreement.services and renders; the write is POST-only and ends in
POST/redirect/GET (htmx gets the page's section instead). The report's JSON
is turned into display rows here, so the template only prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST

from accord.pages import render_page
from projects import access
from projects.models import Job, JobStatus, Project
from projects.pages import project_context

from . import charts, services
from .models import AgreementReport

JOB_CARD = "agreement-job"  # the progress card's id: its polls aim at it
VERSION_LAST = {"none": 1, "mixed": 2}  # after the numbered versions, in this order


# --- access ---------------------------------------------------------------------


def _lead_project(request: HttpRequest, project_id: int) -> Project:
    """Leads only (view_stats): a member learns it is a permission matter
    (403), anyone else gets 404. Computing a report changes none of the
    project's data, so an archived project can be measured too, as through
    the API."""
    return access.access_project_or_403(request.user, project_id, access.VIEW_STATS, write=False)


# --- the report, as display rows -------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One figure as the page prints it: "undefined" with its reason, never
    0; a small n flagged."""

    text: str
    defined: bool
    n: int
    small: bool
    reason: str
    reading: str
    dropped: int = 0
    scarce: str = ""  # why a small figure is flagged, when it is its rarest category
    interval: str = ""


def _shown(figure: dict | None, *, share: bool = False) -> Shown:
    figure = figure or {}
    value = figure.get("value")
    low, high = figure.get("low"), figure.get("high")
    return Shown(
        text=charts.percent(value) if share else charts.number(value),
        defined=value is not None,
        n=int(figure.get("n") or 0),
        small=bool(figure.get("small")) and value is not None,
        reason=figure.get("reason") or "",
        reading=figure.get("reading") or "",
        dropped=int(figure.get("dropped") or 0),
        scarce=(figure.get("scarce") or {}).get("text", ""),
        interval=""
        if low is None or high is None
        else f"{charts.number(low)} to {charts.number(high)}",
    )


def _names(result: dict) -> dict[int, str]:
    """Usernames of everyone the report names, in one query; someone deleted
    since keeps a distinct placeholder."""
    ids = {p["a"] for p in result.get("pairs", [])} | {p["b"] for p in result.get("pairs", [])}
    ids |= {row["annotator"] for row in result.get("against_gold", [])}
    found = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return {pk: found.get(pk, f"former member {pk}") for pk in ids}


def _pair_matrix(pairs: list[dict], names: dict[int, str]) -> dict[str, Any]:
    """Annotators × annotators, both halves filled (a row reads one person
    against everyone); a pair that shared no item has no cell value."""
    ids = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs}, key=lambda i: names[i].lower())
    by_pair = {frozenset((p["a"], p["b"])): p for p in pairs}
    rows = []
    for a in ids:
        cells = []
        for b in ids:
            pair = by_pair.get(frozenset((a, b))) if a != b else None
            cells.append(
                {
                    "column": names[b],
                    "same": a == b,
                    "kappa": _shown(pair) if pair else None,
                    "agreement": charts.percent(pair["agreement"]) if pair else "",
                    "shade": charts.shade(pair["value"]) if pair else "heat--none",
                }
            )
        rows.append({"name": names[a], "cells": cells})
    undefined = [
        {"a": names[p["a"]], "b": names[p["b"]], "reason": p.get("reason") or ""}
        for p in pairs
        if p.get("value") is None
    ]
    return {"names": [names[i] for i in ids], "rows": rows, "undefined": undefined}


def _confusion(confusion: dict) -> dict[str, Any]:
    labels = confusion.get("labels") or []
    matrix = confusion.get("matrix") or []
    rows = [
        {
            "label": label,
            "cells": [
                {"count": c, "diagonal": i == j, "column": labels[j]} for j, c in enumerate(row)
            ],
            "total": sum(row),
        }
        for i, (label, row) in enumerate(zip(labels, matrix, strict=False))
    ]
    return {"labels": labels, "rows": rows, "reason": confusion.get("reason") or ""}


def _gold_rows(rows: list[dict], names: dict[int, str]) -> list[dict[str, Any]]:
    out = [
        {
            "name": names[row["annotator"]],
            "accuracy": _shown(row.get("accuracy"), share=True),
            "kappa": _shown(row.get("kappa")),
        }
        for row in rows
    ]
    return sorted(out, key=lambda r: r["name"].lower())


def _point(row: dict, label: str) -> charts.Point:
    return charts.Point(
        label=label,
        value=row.get("value"),
        n=int(row.get("n") or 0),
        low=row.get("low"),
        high=row.get("high"),
        small=bool(row.get("small")),
        reason=row.get("reason") or "",
    )


def _version_order(row: dict) -> tuple[int, int]:
    version = str(row.get("version"))
    return (VERSION_LAST.get(version, 0), int(version) if version.isdigit() else 0)


def _version_label(version: str) -> str:
    return {"none": "no version", "mixed": "mixed"}.get(version, f"v{version}")


def _trends(result: dict) -> dict[str, Any]:
    weeks = [_point(r, r["week"]) for r in result.get("per_week", [])]
    versions = [
        _point(r, _version_label(str(r["version"])))
        for r in sorted(result.get("per_version", []), key=_version_order)
    ]
    return {
        "weeks": weeks,
        "weeks_svg": charts.trend_plot(
            weeks, title="Krippendorff's α per ISO week of the later submission", connect=True
        ),
        "versions": versions,
        "versions_svg": charts.trend_plot(
            versions, title="Krippendorff's α per guideline version, with its interval"
        ),
    }


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _report_context(report: AgreementReport) -> dict[str, Any]:
    result = report.result if isinstance(report.result, dict) else {}
    names = _names(result)
    headline = result.get("headline") or {}
    return {
        "result": result,
        "params": report.params,
        "confidence": round(100 * float(report.params.get("confidence", 0.95))),
        "duration": _duration(report.duration_ms),
        "headline": _shown(headline),
        "interval": _point(headline, "headline").interval_text,
        "percent_agreement": _shown(result.get("percent_agreement"), share=True),
        "fleiss": _shown(result.get("fleiss_kappa")),
        "per_label": [
            {"name": row.get("name") or row.get("label"), "figure": _shown(row)}
            for row in result.get("per_label", [])
        ],
        "pairs": _pair_matrix(result.get("pairs", []), names),
        "confusion": _confusion(result.get("confusion") or {}),
        "gold": _gold_rows(result.get("against_gold", []), names),
        **_trends(result),
    }


# --- the page -------------------------------------------------------------------


def _failed_since(project: Project, report: AgreementReport | None) -> Job | None:
    """The latest computation, if it failed after the report shown was made:
    the lead should know the figures are older than they asked for."""
    last = (
        Job.objects.filter(project=project, kind=services.KIND)
        .order_by("-created_at", "-pk")
        .first()
    )
    if last is None or last.status != JobStatus.FAILED:
        return None
    if report is not None and last.created_at <= report.created_at:
        return None
    return last


def _page(request: HttpRequest, project: Project, *, status: int = 200) -> HttpResponse:
    context = project_context(request, project, "agreement")
    report = services.latest_report(project)
    context.update(
        report=report,
        job=services.running_report(project),
        failed=_failed_since(project, report),
        job_card=JOB_CARD,
    )
    if report is not None:
        context.update(_report_context(report))
    response = render_page(request, "review/agreement.html", context, status=status)
    patch_vary_headers(response, ["HX-Target"])
    return response


def _job_card(request: HttpRequest, project: Project, job: Job) -> HttpResponse:
    """Only the progress card, for its own polling."""
    context = {"project": project, "job": job, "job_card": JOB_CARD}
    with timezone.override(project.time_zone):
        response = render(request, "review/agreement.html#job", context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _polled_job(project: Project, raw: str) -> Job | None:
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        return None
    return Job.objects.filter(project=project, kind=services.KIND, pk=int(raw)).first()


def _announce(request: HttpRequest, job: Job) -> None:
    """Say in the live region how the computation ended (the card is gone)."""
    if job.status == JobStatus.SUCCEEDED:
        messages.success(request, "The agreement report is ready.")
    elif job.status == JobStatus.CANCELLED:
        messages.info(request, "The computation was cancelled; the page shows the last report.")
    else:
        error = Truncator(job.error or "no reason was given").chars(300)
        messages.error(request, f"The computation failed: {error}")


def _poll(request: HttpRequest, project: Project) -> HttpResponse:
    """A poll from the progress card: the card again while the job runs;
    once it has ended, the whole section with the new report, swapped in
    place of the card's section (HX-Retarget)."""
    job = _polled_job(project, request.GET.get("job", ""))
    if job is not None and not job.is_finished:
        return _job_card(request, project, job)
    if job is not None:
        _announce(request, job)
    response = _page(request, project)
    response["HX-Retarget"] = "#project-page"
    response["HX-Reswap"] = "innerHTML"
    return response


@login_required
@require_GET
def agreement(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _lead_project(request, project_id)
    if request.htmx and request.htmx.target == JOB_CARD:
        return _poll(request, project)
    return _page(request, project)


@login_required
@require_POST
def run(request: HttpRequest, project_id: int) -> HttpResponse:
    """Compute now: queue a report, or join the one already queued or
    running (report_start never starts a second)."""
    project = _lead_project(request, project_id)
    # Only for the wording: report_start itself decides under a lock.
    already = services.running_report(project) is not None
    services.report_start(project=project, user=request.user)
    if already:
        messages.info(request, "A computation is already under way: its progress is shown below.")
    else:
        messages.success(request, "The report is being computed: its progress is shown below.")
    url = reverse("agreement:agreement", args=[project.pk])
    if request.htmx:
        response = _page(request, project)
        response["HX-Replace-Url"] = url
        return response
    return redirect(url)
