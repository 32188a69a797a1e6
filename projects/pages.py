"""What every project page shares: what the caller may do (``Can``), the
context a project page starts from, the read-only answer for a write on
an archived project, and the answer after a successful mutation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accord.pages import render_page

from . import access
from .models import Project

FIX_BELOW = "Nothing was saved: correct the fields marked below."

Page = Callable[[HttpRequest, Project], HttpResponse]

READ_ONLY = "This project is archived, so it is read-only. A lead can unarchive it in Settings."


@dataclass(frozen=True)
class Can:
    """What the caller may do on this project, from access.user_permissions:
    templates ask ``can.manage_members``, never about roles."""

    perms: frozenset[str]
    archived: bool

    def _may(self, perm: str) -> bool:
        return perm in self.perms and not (self.archived and perm in access.WRITE_PERMISSIONS)

    @property
    def change(self) -> bool:
        return self._may(access.CHANGE)

    @property
    def see_settings(self) -> bool:
        # An archived project's settings stay readable: that is where it is
        # unarchived.
        return access.CHANGE in self.perms

    @property
    def manage_members(self) -> bool:
        return self._may(access.MANAGE_MEMBERS)

    @property
    def see_invites(self) -> bool:
        return access.MANAGE_MEMBERS in self.perms

    @property
    def edit_guidelines(self) -> bool:
        return self._may(access.EDIT_GUIDELINES)

    @property
    def see_draft(self) -> bool:
        return access.EDIT_GUIDELINES in self.perms

    @property
    def see_items(self) -> bool:
        # An archived project's items stay readable.
        return access.IMPORT_ITEMS in self.perms

    @property
    def manage_items(self) -> bool:
        return self._may(access.IMPORT_ITEMS)

    @property
    def view_stats(self) -> bool:
        return access.VIEW_STATS in self.perms

    @property
    def annotate(self) -> bool:
        # The Annotate tab and history stay for an archived project: the
        # workspace says it is read-only, the history lists past work.
        return access.ANNOTATE in self.perms

    @property
    def export(self) -> bool:
        # An archived project's versions stay readable and downloadable.
        return access.EXPORT in self.perms

    @property
    def review(self) -> bool:
        return access.REVIEW in self.perms

    @property
    def see_gold(self) -> bool:
        # Gold and its history are for reviewers and leads; an annotator
        # sees gold only as feedback on their own work.
        return bool(self.perms & {access.REVIEW, access.VIEW_STATS})


def project_context(request: HttpRequest, project: Project, tab: str) -> dict[str, Any]:
    membership = access.membership_of(request.user, project)
    return {
        "project": project,
        "tab": tab,
        "can": Can(access.user_permissions(request.user, project), project.is_archived),
        "my_roles": membership.roles if membership else [],
    }


def read_only_when_archived(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A write on an archived project answers 409 with a read-only notice
    (access raises ProjectArchived for it)."""

    @wraps(view)
    def wrapper(request: HttpRequest, project_id: int, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, project_id, **kwargs)
        except access.ProjectArchived:
            # ProjectArchived comes only after the visibility check passed,
            # so naming the project here tells the caller nothing new.
            project = access.access_project(request.user, project_id, write=False)
            messages.error(request, READ_ONLY)
            context = project_context(request, project, "overview")
            return render_page(request, "projects/read_only.html", context, status=409)

    return wrapper


def mutation_done(
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
