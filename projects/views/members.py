"""The members tab: members and their roles, invites (htmx pages, as
described in projects.views)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accord.errors import Conflict, InvalidInput
from accord.pages import render_page
from projects import access, forms, selectors, services
from projects.models import Invite, Membership, Project
from projects.pages import FIX_BELOW, Can, mutation_done, project_context, read_only_when_archived

# The session key that carries a new invite link across POST/redirect/GET, so
# the link is shown once and never travels in a URL or a cookie.
INVITE_LINK_KEY = "accord_new_invite"


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
            values = form.validated_values()
            membership = services.membership_set(project=project, user=form.member, **values)
        except InvalidInput as exc:
            form.absorb_errors(exc.errors)
        except Conflict as exc:
            messages.error(request, exc.detail)
            return _members_page(request, project, add_form=form, status=409)
        else:
            text = f"{form.member.username} is a member as {', '.join(membership.roles)}."
            return mutation_done(request, project, text, "projects:members", _members_page)
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
        values = form.validated_values()
        membership = services.membership_set(project=project, user=membership.user, **values)
    except InvalidInput as exc:
        form.absorb_errors(exc.errors)
        messages.error(request, f"The roles of {membership.user.username} were not changed.")
        return _members_page(request, project, failed=(user_id, form), status=400)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return _members_page(request, project, status=409)
    text = f"{membership.user.username} is now {', '.join(membership.roles)}."
    return mutation_done(request, project, text, "projects:members", _members_page)


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
    return mutation_done(request, project, text, "projects:members", _members_page)


@login_required
@require_POST
@read_only_when_archived
def invite_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access.access_project_or_403(request.user, project_id, access.MANAGE_MEMBERS)
    form = forms.InviteForm(request.POST, auto_id="id_invite_%s")
    form.is_valid()
    try:
        values = form.validated_values()
        token, invite = services.invite_create(project=project, user=request.user, **values)
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
    return mutation_done(request, project, text, "projects:members", _members_page)
