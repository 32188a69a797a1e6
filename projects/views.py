"""Server-rendered project pages (htmx).

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
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accord.errors import Conflict, InvalidInput
from accord.pages import render_page

from . import access, forms, selectors, services
from .markdown import render_markdown
from .models import GuidelineDraft, Invite, Membership, Project
from .pages import Can, project_context, read_only_when_archived

# The session key that carries a new invite link across POST/redirect/GET, so
# the link is shown once and never travels in a URL or a cookie.
INVITE_LINK_KEY = "accord_new_invite"
FIX_BELOW = "Nothing was saved: correct the fields marked below."

Page = Callable[[HttpRequest, Project], HttpResponse]


def _done(
    request: HttpRequest,
    project: Project,
    text: str,
    url_name: str,
    page: Page,
    *,
    level: int = messages.SUCCESS,
    warnings: list[str] = (),
) -> HttpResponse:
    """After a successful mutation: htmx gets the page's partial (and the
    address bar the page's URL), everyone else a redirect. ``warnings``
    follow the message: what was saved but will not work as expected."""
    messages.add_message(request, level, text)
    for warning in warnings:
        messages.warning(request, warning)
    url = reverse(url_name, args=[project.pk])
    if request.htmx:
        response = page(request, project)
        response["HX-Replace-Url"] = url
        return response
    return redirect(url)


# --- list and create ----------------------------------------------------------


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    summaries = selectors.project_list(request.user)
    return render(request, "projects/list.html", {"summaries": summaries})


def _new_page(
    request: HttpRequest, editor: forms.ProjectEditor, *, status: int = 200
) -> HttpResponse:
    return render(request, "projects/new.html", {"editor": editor}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _new_page(request, forms.ProjectEditor())
    editor = forms.ProjectEditor(request.POST)
    if "add_label" in request.POST:
        # "Add label" without JavaScript: the same form with one more row.
        editor.labels = forms.with_blank_label(request.POST)
        return _new_page(request, editor)
    if editor.is_valid():
        try:
            project = services.project_create(user=request.user, **editor.service_values())
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
    schema: forms.SchemaEditor | None = None,
    change: services.ConfigChange | None = None,
    confirm_key: str = "",
    status: int = 200,
) -> HttpResponse:
    context = project_context(request, project, "settings")
    config = services.project_config(project)
    context.update(
        settings_form=settings_form
        or forms.SettingsForm(initial=forms.SettingsForm.initial_for(project)),
        schema=schema or forms.SchemaEditor(config=config.config),
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
            project = services.project_update(
                project=project, user=request.user, **form.service_values()
            )
        except InvalidInput as exc:
            form.absorb_errors(exc.errors)
        else:
            text = "Settings saved."
            if queue_before != [getattr(project, name) for name in services.REQUEUE_FIELDS]:
                # project_update started the requeue job for exactly this change.
                text += " The queue is re-ranked in the background."
            warnings = [w["message"] for w in selectors.project_warnings(project)]
            return _done(
                request, project, text, "projects:settings", _settings_page, warnings=warnings
            )
    messages.error(request, FIX_BELOW)
    return _settings_page(request, project, settings_form=form, status=400)


@login_required
@require_POST
@read_only_when_archived
def schema_update(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.CHANGE)
    editor = forms.SchemaEditor(request.POST)
    if "add_label" in request.POST:
        editor.labels = forms.with_blank_label(request.POST)
        return _settings_page(request, project, schema=editor)
    if editor.is_valid():
        config = editor.config()
        key = _confirmation_key(project, config)
        try:
            change = services.project_config_update(
                project=project,
                user=request.user,
                config=config,
                note=editor.schema.cleaned_data["note"],
                confirm=request.POST.get("confirm") == key,
            )
        except InvalidInput as exc:
            editor.take_errors(exc.errors)
        else:
            if change.applied:
                project.refresh_from_db()
                text = f"Label schema saved as version {change.version}."
                return _done(request, project, text, "projects:settings", _settings_page)
            if change.needs_confirmation:
                return _settings_page(
                    request, project, schema=editor, change=change, confirm_key=key
                )
            return _done(
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
    return _done(request, project, text, "projects:settings", _settings_page)


@login_required
@require_POST
@read_only_when_archived
def project_unarchive(request: HttpRequest, project_id: int) -> HttpResponse:
    # The one write an archived project accepts.
    project = access.access_project_or_403(request.user, project_id, access.CHANGE, write=False)
    project = services.project_unarchive(project=project, user=request.user)
    return _done(request, project, "Project unarchived.", "projects:settings", _settings_page)


# --- members and invites -------------------------------------------------------


@dataclass
class MemberRow:
    membership: Membership
    form: forms.MemberRolesForm | None


def _roles_form_id(user_id: int) -> str:
    return f"id_m{user_id}_%s"


def _members_page(
    request: HttpRequest,
    project: Project,
    *,
    add_form: forms.MemberAddForm | None = None,
    invite_form: forms.InviteForm | None = None,
    failed: tuple[int, forms.MemberRolesForm] | None = None,
    invite_link: str = "",
    status: int = 200,
) -> HttpResponse:
    context = project_context(request, project, "members")
    can: Can = context["can"]
    rows = []
    for membership in selectors.members(project):
        form = None
        if can.manage_members:
            if failed and failed[0] == membership.user_id:
                form = failed[1]
            else:
                form = forms.MemberRolesForm(
                    initial={"roles": membership.roles},
                    auto_id=_roles_form_id(membership.user_id),
                )
        rows.append(MemberRow(membership, form))
    if can.see_invites and not invite_link:
        stashed = request.session.pop(INVITE_LINK_KEY, None)
        if stashed and stashed.get("project") == project.pk:
            invite_link = stashed["url"]
    context.update(
        rows=rows,
        add_form=add_form or forms.MemberAddForm(auto_id="id_add_%s"),
        invite_form=invite_form or forms.InviteForm(auto_id="id_invite_%s"),
        invites=selectors.pending_invites(project) if can.see_invites else [],
        invite_link=invite_link,
        now=timezone.now(),
    )
    return render_page(request, "projects/members.html", context, status=status)


@login_required
@require_GET
def members(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project(request.user, project_id)
    return _members_page(request, project)


@login_required
@require_POST
@read_only_when_archived
def member_add(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.MANAGE_MEMBERS)
    form = forms.MemberAddForm(request.POST, auto_id="id_add_%s")
    if form.is_valid():
        try:
            membership = services.membership_set(
                project=project, user=form.member, roles=form.cleaned_data["roles"]
            )
        except InvalidInput as exc:
            form.absorb_errors(exc.errors)
        except Conflict as exc:
            messages.error(request, exc.detail)
            return _members_page(request, project, add_form=form, status=409)
        else:
            text = f"{form.member.username} is a member as {', '.join(membership.roles)}."
            return _done(request, project, text, "projects:members", _members_page)
    messages.error(request, FIX_BELOW)
    return _members_page(request, project, add_form=form, status=400)


@login_required
@require_POST
@read_only_when_archived
def member_roles(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.MANAGE_MEMBERS)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), project=project, user_id=user_id
    )
    form = forms.MemberRolesForm(request.POST, auto_id=_roles_form_id(user_id))
    form.is_valid()
    try:
        membership = services.membership_set(
            project=project, user=membership.user, roles=form.cleaned_data["roles"]
        )
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, f"The roles of {membership.user.username} were not changed.")
        return _members_page(request, project, failed=(user_id, form), status=400)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _members_page(request, project, status=409)
    text = f"{membership.user.username} is now {', '.join(membership.roles)}."
    return _done(request, project, text, "projects:members", _members_page)


@login_required
@require_POST
@read_only_when_archived
def member_remove(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.MANAGE_MEMBERS)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), project=project, user_id=user_id
    )
    try:
        services.membership_remove(project=project, user=membership.user)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _members_page(request, project, status=409)
    if membership.user_id == request.user.pk:
        # A lead who left can no longer see the project: go to the list.
        messages.success(request, f"You left “{project.name}”.")
        url = reverse("projects:list")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    text = f"{membership.user.username} was removed from the project."
    return _done(request, project, text, "projects:members", _members_page)


@login_required
@require_POST
@read_only_when_archived
def invite_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.MANAGE_MEMBERS)
    form = forms.InviteForm(request.POST, auto_id="id_invite_%s")
    form.is_valid()
    try:
        token, invite = services.invite_create(
            project=project,
            email=form.cleaned_data["email"],
            roles=form.cleaned_data["roles"],
            user=request.user,
        )
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, "No invite was created: correct the fields marked below.")
        return _members_page(request, project, invite_form=form, status=400)
    link = request.build_absolute_uri(reverse("accounts:invite_accept", args=[token]))
    messages.success(
        request, f"Invite for {invite.email} created. Copy the link now: it is shown only once."
    )
    if request.htmx:
        return _members_page(request, project, invite_link=link)
    request.session[INVITE_LINK_KEY] = {"project": project.pk, "url": link}
    return redirect("projects:members", project_id=project.pk)


@login_required
@require_POST
@read_only_when_archived
def invite_revoke(request: HttpRequest, project_id: int, invite_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.MANAGE_MEMBERS)
    invite = get_object_or_404(Invite, project=project, pk=invite_id)
    try:
        services.invite_revoke(invite=invite)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _members_page(request, project, status=409)
    text = f"The invite for {invite.email} was revoked."
    return _done(request, project, text, "projects:members", _members_page)


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
        services.guideline_draft_save(
            project=project, user=request.user, body=form.cleaned_data["body"]
        )
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, "The draft was not saved: correct the fields marked below.")
        return _guideline_edit_page(request, project, form=form, status=400)
    return _done(request, project, "Draft saved.", "projects:guideline_edit", _guideline_edit_page)


@login_required
@require_POST
def guideline_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """Render the posted Markdown; it stores nothing, so it is allowed on an
    archived project too."""
    project = access.access_project_or_403(
        request.user, project_id, access.EDIT_GUIDELINES, write=False
    )
    body = request.POST.get("body", "")
    if len(body) > services.MAX_GUIDELINE:
        preview = None
        error = f"The text is longer than {services.MAX_GUIDELINE} characters."
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
            project=project,
            user=request.user,
            note=form.cleaned_data["note"],
            body=form.cleaned_data["body"],
        )
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, "Nothing was published: correct the fields marked below.")
        return _guideline_edit_page(request, project, form=form, status=400)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _guideline_edit_page(request, project, form=form, status=409)
    text = f"Published version {version.number} of the guidelines."
    return _done(request, project, text, "projects:guidelines", _guidelines_page)
