"""REST API v1 for projects, members, invites, the schema and guidelines.

Each view: parse, check access through projects.access, call one service,
answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.api import CursorPagination
from accord.errors import InvalidInput

from . import access, selectors, services
from . import serializers as s
from .fields import input_validate
from .models import ConfigVersion, GuidelineDraft, GuidelineVersion, Invite, Project

User = get_user_model()
# The PATCH fields that make a new config version rather than change settings.
SCHEMA_FIELDS = ("task_type", "config", "config_note", "confirm")


@dataclass
class ProjectShown:
    """A project as the API shows it to one caller: the model, its current
    config version, the caller's roles, item counts and warnings."""

    project: Project
    config: ConfigVersion
    roles: list[str]
    counts: dict[str, int]
    warnings: list[selectors.Warning]

    def __getattr__(self, name: str):
        return getattr(self.project, name)


def project_output(
    project: Project, user, *, counts: dict | None = None, roles: list | None = None
) -> dict:
    if roles is None:
        membership = access.membership_of(user, project)
        roles = membership.roles if membership else []
    shown = ProjectShown(
        project=project,
        config=services.project_config(project),
        roles=roles,
        counts=counts if counts is not None else selectors.project_item_counts(project),
        warnings=selectors.project_warnings(project),
    )
    return s.ProjectOutput(shown).data


def paginated(request, view, queryset, serializer_class) -> Response:
    """One cursor page of ``queryset`` (ordered by its immutable id)."""
    paginator = CursorPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ProjectPermissionMixin:
    permission_classes = [access.ProjectPermission]


class ProjectListView(ProjectPermissionMixin, APIView):
    @extend_schema(responses=s.ProjectOutput(many=True))
    def get(self, request):
        paginator = CursorPagination()
        page = paginator.paginate_queryset(
            access.projects_for_user(request.user), request, view=self
        )
        summaries = selectors.project_summaries(request.user, page)
        return paginator.get_paginated_response(
            [
                project_output(x.project, request.user, counts=x.counts, roles=x.roles)
                for x in summaries
            ]
        )

    @extend_schema(request=s.ProjectCreateInput, responses={201: s.ProjectOutput})
    def post(self, request):
        values = input_validate(s.ProjectCreateInput, request.data)
        project = services.project_create(user=request.user, **values)
        return Response(project_output(project, request.user), status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.VIEW, "PATCH": access.CHANGE}

    @extend_schema(responses=s.ProjectOutput)
    def get(self, request, project_id: int):
        return Response(project_output(self.project, request.user))

    @extend_schema(request=s.ProjectPatchInput, responses=s.ProjectOutput)
    def patch(self, request, project_id: int):
        values = input_validate(s.ProjectPatchInput, request.data, project=self.project)
        schema_part = {name: values.pop(name) for name in SCHEMA_FIELDS if name in values}
        project = services.project_change(
            project=self.project, user=request.user, settings_values=values, **schema_part
        )
        return Response(project_output(project, request.user))


class ProjectArchiveView(ProjectPermissionMixin, APIView):
    project_perm = access.CHANGE

    @extend_schema(request=None, responses=s.ProjectOutput)
    def post(self, request, project_id: int):
        project = services.project_archive(project=self.project, user=request.user)
        return Response(project_output(project, request.user))


class ProjectUnarchiveView(ProjectPermissionMixin, APIView):
    project_perm = access.CHANGE
    project_write = False  # the one write allowed on an archived project

    @extend_schema(request=None, responses=s.ProjectOutput)
    def post(self, request, project_id: int):
        project = services.project_unarchive(project=self.project, user=request.user)
        return Response(project_output(project, request.user))


class ConfigView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.VIEW, "POST": access.CHANGE}

    @extend_schema(responses=s.ConfigVersionOutput(many=True))
    def get(self, request, project_id: int):
        versions = ConfigVersion.objects.filter(project=self.project).select_related("author")
        return paginated(request, self, versions, s.ConfigVersionOutput)

    @extend_schema(
        request=s.ConfigInput, responses={200: s.ConfigChangeOutput, 201: s.ConfigChangeOutput}
    )
    def post(self, request, project_id: int):
        data = input_validate(s.ConfigInput, request.data)
        change = services.project_config_update(project=self.project, user=request.user, **data)
        if change.needs_confirmation and not change.applied and not data.get("dry_run"):
            return Response(
                {
                    "detail": "This change affects existing annotations; confirm it.",
                    "impact": s.ConfigChangeOutput(change).data,
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(s.ConfigChangeOutput(change).data, status=201 if change.applied else 200)


class MemberListView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.VIEW, "POST": access.MANAGE_MEMBERS}

    @extend_schema(responses=s.MemberOutput(many=True))
    def get(self, request, project_id: int):
        return paginated(request, self, selectors.members(self.project), s.MemberOutput)

    @extend_schema(request=s.MemberInput, responses={200: s.MemberOutput, 201: s.MemberOutput})
    def post(self, request, project_id: int):
        data = input_validate(s.MemberInput, request.data)
        user = User.objects.filter(pk=data["user"], is_active=True).first()
        if user is None:
            raise InvalidInput("no such active user", field="user")
        existed = self.project.memberships.filter(user=user).exists()
        membership = services.membership_set(project=self.project, user=user, roles=data["roles"])
        return Response(s.MemberOutput(membership).data, status=200 if existed else 201)


class MemberDetailView(ProjectPermissionMixin, APIView):
    project_perm = access.MANAGE_MEMBERS

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        membership = get_object_or_404(self.project.memberships, user_id=user_id)
        services.membership_remove(project=self.project, user=membership.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InviteListView(ProjectPermissionMixin, APIView):
    project_perm = access.MANAGE_MEMBERS

    @extend_schema(responses=s.InviteOutput(many=True))
    def get(self, request, project_id: int):
        invites = Invite.objects.filter(project=self.project, revoked_at__isnull=True)
        return paginated(request, self, invites, s.InviteOutput)

    @extend_schema(request=s.InviteInput, responses={201: s.InviteOutput})
    def post(self, request, project_id: int):
        data = input_validate(s.InviteInput, request.data)
        token, invite = services.invite_create(project=self.project, user=request.user, **data)
        body = s.InviteOutput(invite).data
        body["url"] = request.build_absolute_uri(reverse("accounts:invite_accept", args=[token]))
        return Response(body, status=status.HTTP_201_CREATED)


class InviteDetailView(ProjectPermissionMixin, APIView):
    project_perm = access.MANAGE_MEMBERS

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, invite_id: int):
        invite = get_object_or_404(Invite, project=self.project, pk=invite_id)
        services.invite_revoke(invite=invite)
        return Response(status=status.HTTP_204_NO_CONTENT)


def guideline_payload(version: GuidelineVersion) -> dict:
    # The serializer renders the sanitised html field (B4).
    return s.GuidelineVersionOutput(version).data


class GuidelineListView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.VIEW, "POST": access.EDIT_GUIDELINES}

    @extend_schema(responses=s.GuidelineVersionOutput(many=True))
    def get(self, request, project_id: int):
        paginator = CursorPagination()
        page = paginator.paginate_queryset(
            selectors.guideline_versions(self.project), request, view=self
        )
        return paginator.get_paginated_response([guideline_payload(v) for v in page])

    @extend_schema(request=s.GuidelineInput, responses={201: s.GuidelineVersionOutput})
    def post(self, request, project_id: int):
        data = input_validate(s.GuidelineInput, request.data)
        version = services.guideline_publish(project=self.project, user=request.user, **data)
        return Response(guideline_payload(version), status=status.HTTP_201_CREATED)


class GuidelineDetailView(ProjectPermissionMixin, APIView):
    @extend_schema(responses=s.GuidelineVersionOutput)
    def get(self, request, project_id: int, number: int):
        version = get_object_or_404(GuidelineVersion, project=self.project, number=number)
        return Response(guideline_payload(version))


class GuidelineDraftView(ProjectPermissionMixin, APIView):
    project_perm = access.EDIT_GUIDELINES
    project_perms = {"GET": access.EDIT_GUIDELINES, "PUT": access.EDIT_GUIDELINES}

    @extend_schema(responses=s.GuidelineDraftOutput)
    def get(self, request, project_id: int):
        draft, _ = GuidelineDraft.objects.get_or_create(project=self.project)
        return Response(s.GuidelineDraftOutput(draft).data)

    @extend_schema(request=s.GuidelineDraftInput, responses=s.GuidelineDraftOutput)
    def put(self, request, project_id: int):
        data = input_validate(s.GuidelineDraftInput, request.data)
        draft = services.guideline_draft_save(project=self.project, user=request.user, **data)
        return Response(s.GuidelineDraftOutput(draft).data)


class GuidelineDiffView(ProjectPermissionMixin, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, required=True),
        ],
        responses=s.DiffLineOutput(many=True),
    )
    def get(self, request, project_id: int):
        numbers = []
        for name in ("from", "to"):
            raw = request.query_params.get(name, "")
            # ASCII digits only: "²".isdigit() is true but int() refuses it,
            # and int() refuses strings past 4,300 digits (both were a 500).
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
                raise InvalidInput("must be a guideline version number", field=name)
            numbers.append(int(raw))
        old = get_object_or_404(GuidelineVersion, project=self.project, number=numbers[0])
        new = get_object_or_404(GuidelineVersion, project=self.project, number=numbers[1])
        lines = selectors.guideline_diff(old.body, new.body)
        return Response(s.DiffLineOutput(lines, many=True).data)


class StatsView(ProjectPermissionMixin, APIView):
    @extend_schema(responses=s.StatsOutput)
    def get(self, request, project_id: int):
        body = {
            "items": selectors.project_item_counts(self.project),
            "annotations_per_annotator": [],
        }
        # Per-annotator figures are for leads; an annotator sees only the totals.
        if access.has_perm(request.user, self.project, access.VIEW_STATS):
            body["annotations_per_annotator"] = selectors.annotator_counts(self.project)
        return Response(body)
