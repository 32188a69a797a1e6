"""The project's Export page (leads): preview an export's split sizes, start
it, watch its progress, download versions, compare two of them.

A view checks access through projects.access, calls one service of the
exports package (start, versions) and renders; the form below only turns the
page's fields into the request the API takes, so the page and the API share
one parser and one set of errors. Downloads go through the API's download
route (session authentication), which checks access on every request:
files are never served from a public URL.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import tasktypes
from accord.errors import Conflict, InvalidInput
from accord.pages import render_page, render_partial
from projects import access
from projects.models import Project
from projects.pages import project_context, read_only_when_archived
from projects.services import project_config
from review.models import GoldSource

from . import formats, start
from .models import DatasetVersion
from .versions import manifest_compare

PAGE = "datasets/exports.html"
HISTORY = 50


def _project(request: HttpRequest, project_id: int, *, write: bool = False) -> Project:
    # Members without the export permission learn it is a permission
    # matter (403); anyone else gets 404.
    return access.access_project_or_403(request.user, project_id, access.EXPORT, write=write)


class ExportForm(forms.Form):
    """The page's fields; ``request_body`` turns them into the API's request."""

    format = forms.ChoiceField(label="Format")
    split_train = forms.CharField(label="Train", required=False, initial="0.8")
    split_validation = forms.CharField(label="Validation", required=False, initial="0.1")
    split_test = forms.CharField(label="Test", required=False, initial="0.1")
    no_splits = forms.BooleanField(label="No splits: one file", required=False)
    group_by = forms.CharField(label="Group by (metadata field)", required=False, max_length=100)
    source = forms.MultipleChoiceField(
        label="Gold sources",
        required=False,
        choices=GoldSource.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    labels = forms.MultipleChoiceField(
        label="Labels", required=False, widget=forms.CheckboxSelectMultiple
    )
    min_guideline_version = forms.IntegerField(
        label="Minimum guideline version", required=False, min_value=1
    )
    decided_from = forms.DateTimeField(label="Decided from", required=False)
    decided_to = forms.DateTimeField(label="Decided before", required=False)
    include_excluded = forms.BooleanField(label="Include excluded items", required=False)
    provenance = forms.BooleanField(label="With provenance", required=False)
    include_meta = forms.BooleanField(
        label="With the items' metadata", required=False, initial=True
    )
    system_prompt = forms.CharField(
        label="System prompt (chat)", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    prompt_template = forms.CharField(
        label="Prompt template (chat)",
        required=False,
        initial="{text}",
        help_text="{text} is the item's text, {labels} the label keys.",
    )

    # The service's error fields → this form's fields.
    FIELDS = {
        "splits": "split_train",
        "splits.train": "split_train",
        "splits.validation": "split_validation",
        "splits.test": "split_test",
        "filters.source": "source",
        "filters.labels": "labels",
        "filters.min_guideline_version": "min_guideline_version",
        "filters.decided_from": "decided_from",
        "filters.decided_to": "decided_to",
        "options.system_prompt": "system_prompt",
        "options.prompt_template": "prompt_template",
    }

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = project_config(project)
        task_type = tasktypes.get(config.task_type)
        self.fields["format"].choices = [
            (f.key, f.name) for f in formats.FORMATS.values() if f.supports(task_type)
        ]
        self.fields["labels"].choices = [
            (label["key"], label["name"]) for label in config.config.get("labels", [])
        ]

    def _splits(self) -> dict[str, Any] | None:
        if self.cleaned_data["no_splits"]:
            return None
        spec: dict[str, Any] = {}
        for name in ("train", "validation", "test"):
            raw = (self.cleaned_data[f"split_{name}"] or "").strip()
            if not raw:
                continue
            try:
                spec[name] = float(raw)
            except ValueError:
                self.add_error(f"split_{name}", "must be a number from 0 to 1")
        return spec

    def request_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        filters: dict[str, Any] = {"include_excluded": data["include_excluded"]}
        if data["source"]:
            filters["source"] = data["source"]
        if data["labels"]:
            filters["labels"] = data["labels"]
        if data["min_guideline_version"]:
            filters["min_guideline_version"] = data["min_guideline_version"]
        for name in ("decided_from", "decided_to"):
            if data[name]:
                filters[name] = data[name].isoformat()
        return {
            "format": data["format"],
            "splits": self._splits(),
            "group_by": data["group_by"].strip() or None,
            "filters": filters,
            "options": {
                "provenance": data["provenance"],
                "include_meta": data["include_meta"],
                "system_prompt": data["system_prompt"],
                "prompt_template": data["prompt_template"] or "{text}",
            },
        }

    def take_errors(self, errors: list[dict[str, str]]) -> None:
        for error in errors:
            field = self.FIELDS.get(error.get("field") or "", error.get("field"))
            self.add_error(field if field in self.fields else None, error["reason"])


def _versions(project: Project) -> list[DatasetVersion]:
    return list(
        DatasetVersion.objects.filter(project=project)
        .select_related("job", "created_by")
        .order_by("-id")[:HISTORY]
    )


def _done(project: Project) -> list[DatasetVersion]:
    return list(
        DatasetVersion.objects.filter(project=project, succeeded_at__isnull=False).order_by("-id")[
            :HISTORY
        ]
    )


def _page(
    request: HttpRequest,
    project: Project,
    *,
    form: ExportForm | None = None,
    compared: dict | None = None,
    preview: start.Preview | None = None,
    status: int = 200,
) -> HttpResponse:
    context = project_context(request, project, "exports")
    versions = _versions(project)
    context.update(
        form=form or ExportForm(project=project),
        versions=versions,
        done=[v for v in versions if v.succeeded_at is not None],
        compared=compared,
        preview=preview,
    )
    return render_page(request, PAGE, context, status=status)


@login_required
@require_GET
def exports_page(request: HttpRequest, project_id: int) -> HttpResponse:
    return _page(request, _project(request, project_id))


@login_required
@require_POST
@read_only_when_archived
def export_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id, write=True)
    form = ExportForm(request.POST, project=project)
    if not form.is_valid():
        return _page(request, project, form=form, status=400)
    body = form.request_body()
    if form.errors:
        return _page(request, project, form=form, status=400)
    try:
        started = start.export_start(project=project, user=request.user, raw=body)
    except InvalidInput as exc:
        form.take_errors(exc.errors)
        messages.error(request, "Nothing was started: see the marked fields.")
        return _page(request, project, form=form, status=400)
    version = started.version
    if started.created:
        messages.success(request, f"Export {version.pk} started.")
    else:
        messages.info(
            request, f"The same export of the same gold already exists: version {version.pk}."
        )
    url = reverse("datasets:exports", args=[project.pk])
    if request.htmx:
        response = _page(request, project)
        response["HX-Replace-Url"] = url
        return response
    return redirect(url)


@login_required
@require_POST
def export_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """The split sizes the form's export would have, before the lead starts
    it (start.export_preview: nothing is assigned). htmx gets the preview
    box alone, always with 200 so that it is swapped in, problems inside
    it; without JavaScript the page comes back with the box filled in."""
    project = _project(request, project_id)
    form = ExportForm(request.POST, project=project)
    preview = None
    problems: list[str] = []
    if form.is_valid():
        body = form.request_body()
        if not form.errors:
            try:
                preview = start.export_preview(project=project, raw=body)
            except InvalidInput as exc:
                form.take_errors(exc.errors)
    if form.errors:
        problems = [str(e) for errors in form.errors.values() for e in errors]
    if request.htmx:
        context = project_context(request, project, "exports")
        context.update(preview=preview, preview_problems=problems)
        return render_partial(request, PAGE, "preview", context)
    failed = bool(problems) or bool(preview and preview.errors)
    return _page(request, project, form=form, preview=preview, status=400 if failed else 200)


@login_required
@require_GET
def export_card(request: HttpRequest, project_id: int, export_id: int) -> HttpResponse:
    """One version's card, which a running export's card polls."""
    project = _project(request, project_id)
    version = (
        DatasetVersion.objects.filter(pk=export_id, project=project).select_related("job").first()
    )
    if version is None:
        raise Http404
    context = project_context(request, project, "exports")
    context["version"] = version
    if version.job is None or version.job.is_finished:
        # The poll that sees it finish also refreshes the compare form,
        # which may now have a version more to offer.
        context.update(oob_compare=True, done=_done(project))
    return render_partial(request, PAGE, "version", context)


@login_required
@require_GET
def export_compare(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    ids = [request.GET.get("a"), request.GET.get("b")]
    try:
        a, b = (
            DatasetVersion.objects.get(pk=int(pk), project=project, succeeded_at__isnull=False)
            for pk in ids
        )
    except (TypeError, ValueError, DatasetVersion.DoesNotExist):
        messages.error(request, "Choose two finished versions of this project to compare.")
        return _page(request, project, status=400)
    try:
        result = manifest_compare(a, b)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _page(request, project, status=409)
    return _page(request, project, compared={"a": a, "b": b, **result})
