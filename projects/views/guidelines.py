"""The guidelines tab: published versions, their diff, and the editor with
its draft, preview and publishing (htmx pages, as described in projects.views)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from accord.errors import Conflict, InvalidInput
from accord.pages import render_page
from projects import access, forms, selectors, services
from projects.markdown import render_markdown
from projects.models import GuidelineDraft, Project
from projects.pages import mutation_done, project_context, read_only_when_archived
from projects.serializers import MAX_GUIDELINE

# --- guidelines ---------------------------------------------------------------


def _guidelines_page(request: HttpRequest, project: Project) -> HttpResponse:
    context = project_context(request, project, "guidelines")
    versions = selectors.guideline_versions(project)
    latest = versions.first()
    listed = list(versions.defer("body"))
    context.update(
        latest=latest,
        html=render_markdown(latest.body) if latest else "",
        versions=listed,
        numbers=[version.number for version in listed],
    )
    return render_page(request, "projects/guidelines.html", context)


@login_required
@require_GET
def guidelines(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id)
    return _guidelines_page(request, project)


@login_required
@require_GET
def guideline_version(request: HttpRequest, project_id: int, number: int) -> HttpResponse:
    project = access.access_project(request.user, project_id)
    version = get_object_or_404(selectors.guideline_versions(project), number=number)
    context = project_context(request, project, "guidelines")
    context.update(version=version, html=render_markdown(version.body))
    return render_page(request, "projects/guideline_version.html", context)


def _version_number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


@login_required
@require_GET
def guideline_diff(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id)
    versions = selectors.guideline_versions(project)
    numbers = list(versions.values_list("number", flat=True))
    old_raw, new_raw = request.GET.get("from", ""), request.GET.get("to", "")
    if not old_raw and not new_raw and len(numbers) >= 2:
        old_raw, new_raw = str(numbers[1]), str(numbers[0])
    context = project_context(request, project, "guidelines")
    context.update(numbers=numbers, lines=None, old=None, new=None)
    if not old_raw and not new_raw:
        # Nothing asked and fewer than two versions: nothing to compare yet.
        return render_page(request, "projects/guideline_diff.html", context)
    old_no, new_no = _version_number(old_raw), _version_number(new_raw)
    if old_no is None or new_no is None:
        messages.error(request, "Choose two published versions to compare.")
        return render_page(request, "projects/guideline_diff.html", context, status=400)
    old = get_object_or_404(versions, number=old_no)
    new = get_object_or_404(versions, number=new_no)
    lines = selectors.guideline_diff(old.body, new.body)
    context.update(
        old=old,
        new=new,
        lines=lines,
        added=sum(line.kind == "added" for line in lines),
        removed=sum(line.kind == "removed" for line in lines),
    )
    return render_page(request, "projects/guideline_diff.html", context)


def _guideline_edit_page(
    request: HttpRequest,
    project: Project,
    *,
    form: forms.GuidelineForm | None = None,
    preview: str | None = None,
    preview_error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = project_context(request, project, "guidelines")
    draft = GuidelineDraft.objects.filter(project=project).first()
    latest = selectors.guideline_versions(project).first()
    body = draft.body if draft else ""
    context.update(
        form=form or forms.GuidelineForm(initial={"body": body}),
        draft=draft,
        latest=latest,
        unpublished=bool(body.strip()) and (latest is None or latest.body != body),
        preview=preview,
        preview_error=preview_error,
    )
    return render_page(request, "projects/guideline_edit.html", context, status=status)


@login_required
@require_GET
def guideline_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(
        request.user, project_id, access.EDIT_GUIDELINES, write=False
    )
    return _guideline_edit_page(request, project)


@login_required
@require_POST
@read_only_when_archived
def guideline_draft_save(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.EDIT_GUIDELINES)
    form = forms.GuidelineForm(request.POST)
    form.is_valid()
    try:
        services.guideline_draft_save(project=project, user=request.user, **form.draft_values())
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, "The draft was not saved: correct the fields marked below.")
        return _guideline_edit_page(request, project, form=form, status=400)
    return mutation_done(
        request, project, "Draft saved.", "projects:guideline_edit", _guideline_edit_page
    )


@login_required
@require_POST
def guideline_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """Render the posted Markdown; it stores nothing, so it is allowed on an
    archived project too."""
    project = access.access_project_or_403(
        request.user, project_id, access.EDIT_GUIDELINES, write=False
    )
    body = request.POST.get("body", "")
    if len(body) > MAX_GUIDELINE:
        preview = None
        error = f"The text is longer than {MAX_GUIDELINE} characters."
    else:
        preview, error = render_markdown(body), ""
    if request.htmx:
        context = {"preview": preview, "preview_error": error}
        return render(request, "projects/_guideline_preview.html", context)
    form = forms.GuidelineForm(request.POST)
    return _guideline_edit_page(request, project, form=form, preview=preview, preview_error=error)


@login_required
@require_POST
@read_only_when_archived
def guideline_publish(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.EDIT_GUIDELINES)
    form = forms.GuidelineForm(request.POST)
    form.is_valid()
    try:
        # What is in the editor is what gets published (it becomes the draft too).
        version = services.guideline_publish(
            project=project, user=request.user, **form.validated_values()
        )
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, "Nothing was published: correct the fields marked below.")
        return _guideline_edit_page(request, project, form=form, status=400)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _guideline_edit_page(request, project, form=form, status=409)
    text = f"Published version {version.number} of the guidelines."
    return mutation_done(request, project, text, "projects:guidelines", _guidelines_page)
