"""Server-rendered project pages (htmx): the list, a new project, the
overview, settings and label schema, archiving. Members and invites are in
projects.member_views, guidelines in projects.guideline_views.

A view parses the request, checks access through projects.access, calls one
service and renders. A page answers an htmx request with only its
``section`` partial. A mutation is POST-only (CSRF is checked by the
middleware), calls one service and answers htmx with the same partial,
anyone else with a redirect (POST/redirect/GET) and a message; bad input
re-renders the page with 400 and the errors beside their fields.
"""

from __future__ import annotations

import hashlib
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accord.errors import InvalidInput
from accord.pages import render_page
from projects import access, forms, schema_forms, selectors, services
from projects.models import Project
from projects.pages import FIX_BELOW, mutation_done, project_context, read_only_when_archived

# --- list and create ----------------------------------------------------------


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    summaries = selectors.project_list(request.user)
    return render(request, "projects/list.html", {"summaries": summaries})


def _new_page(
    request: HttpRequest, editor: schema_forms.ProjectEditor, *, status: int = 200
) -> HttpResponse:
    return render(request, "projects/new.html", {"editor": editor}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _new_page(request, schema_forms.ProjectEditor())
    editor = schema_forms.ProjectEditor(request.POST)
    if "add_label" in request.POST:
        # "Add label" without JavaScript: the same form with one more row.
        editor.labels = schema_forms.with_blank_label(request.POST)
        return _new_page(request, editor)
    if editor.is_valid():
        try:
            project = services.project_create(user=request.user, **editor.validated_values())
        except InvalidInput as exc:
            editor.take_errors(exc.errors)
        else:
            messages.success(request, f"Project “{project.name}” created. You are its lead.")
            return redirect("projects:detail", project_id=project.pk)
    messages.error(request, "The project was not created: correct the fields marked below.")
    return _new_page(request, editor, status=400)


# --- overview -----------------------------------------------------------------


def _overview_page(request: HttpRequest, project: Project) -> HttpResponse:
    context = project_context(request, project, "overview")
    counts = selectors.project_item_counts(project)
    context.update(
        config=services.project_config(project),
        counts=counts,
        progress=selectors.ProjectSummary(project, context["my_roles"], counts).progress_percent,
        per_annotator=(
            selectors.annotations_per_annotator(project) if context["can"].view_stats else None
        ),
    )
    return render_page(request, "projects/overview.html", context)


@login_required
@require_GET
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id)
    return _overview_page(request, project)


# --- settings, schema, archive -----------------------------------------------


def _confirmation_key(project: Project, config: dict) -> str:
    """What "Confirm and apply" confirms: this config over this version. If
    the rows were edited after the dry run, or someone else changed the
    schema meanwhile, the key no longer matches and a new dry run is shown."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{project.config_version}:{canonical}".encode()).hexdigest()


def _settings_page(
    request: HttpRequest,
    project: Project,
    *,
    settings_form: forms.SettingsForm | None = None,
    schema: schema_forms.SchemaEditor | None = None,
    change: services.ConfigChange | None = None,
    confirm_key: str = "",
    status: int = 200,
) -> HttpResponse:
    context = project_context(request, project, "settings")
    config = services.project_config(project)
    context.update(
        settings_form=settings_form
        or forms.SettingsForm(initial=forms.SettingsForm.initial_for(project)),
        schema=schema or schema_forms.SchemaEditor(config=config.config),
        config=config,
        change=change,
        confirm_key=confirm_key,
        versions=selectors.config_versions(project),
        warnings=selectors.project_warnings(project),
    )
    return render_page(request, "projects/settings.html", context, status=status)


@login_required
@require_GET
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE, write=False)
    return _settings_page(request, project)


@login_required
@require_POST
@read_only_when_archived
def settings_update(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE)
    form = forms.SettingsForm(request.POST)
    if form.is_valid():
        queue_before = [getattr(project, name) for name in services.REQUEUE_FIELDS]
        try:
            values = form.validated_values(project=project)
            project = services.project_update(project=project, user=request.user, **values)
        except InvalidInput as exc:
            form.absorb_errors(exc.errors)
        else:
            text = "Settings saved."
            if queue_before != [getattr(project, name) for name in services.REQUEUE_FIELDS]:
                # project_update started the requeue job for exactly this change.
                text += " The queue is re-ranked in the background."
            warnings = [w["message"] for w in selectors.project_warnings(project)]
            return mutation_done(
                request, project, text, "projects:settings", _settings_page, warnings=warnings
            )
    messages.error(request, FIX_BELOW)
    return _settings_page(request, project, settings_form=form, status=400)


@login_required
@require_POST
@read_only_when_archived
def schema_update(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE)
    editor = schema_forms.SchemaEditor(request.POST)
    if "add_label" in request.POST:
        editor.labels = schema_forms.with_blank_label(request.POST)
        return _settings_page(request, project, schema=editor)
    if editor.is_valid():
        config = editor.config()
        key = _confirmation_key(project, config)
        try:
            change = services.project_config_update(
                project=project,
                user=request.user,
                **editor.validated_values(),
                confirm=request.POST.get("confirm") == key,
            )
        except InvalidInput as exc:
            editor.take_errors(exc.errors)
        else:
            if change.applied:
                project.refresh_from_db()
                text = f"Label schema saved as version {change.version}."
                return mutation_done(request, project, text, "projects:settings", _settings_page)
            if change.needs_confirmation:
                return _settings_page(
                    request, project, schema=editor, change=change, confirm_key=key
                )
            return mutation_done(
                request,
                project,
                "The label schema is unchanged.",
                "projects:settings",
                _settings_page,
                level=messages.INFO,
            )
    messages.error(request, "The label schema was not changed: correct the fields marked below.")
    return _settings_page(request, project, schema=editor, status=400)


@login_required
@require_POST
@read_only_when_archived
def project_archive(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE)
    project = services.project_archive(project=project, user=request.user)
    text = "Project archived: it is read-only until a lead unarchives it."
    return mutation_done(request, project, text, "projects:settings", _settings_page)


@login_required
@require_POST
@read_only_when_archived
def project_unarchive(request: HttpRequest, project_id: int) -> HttpResponse:
    # The one write an archived project accepts.
    project = access.access_project_or_403(request.user, project_id, access.CHANGE, write=False)
    project = services.project_unarchive(project=project, user=request.user)
    return mutation_done(
        request, project, "Project unarchived.", "projects:settings", _settings_page
    )
