"""REST API v1 for projects, members, invites, the schema and guidelines.

Each view: parse, check access through projects.access, call one service,
answer.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.api import CursorPagination
from accord.errors import Conflict, InvalidInput

from . import access, selectors, services
from . import serializers as s
from .models import ConfigVersion, GuidelineDraft, GuidelineVersion, Invite

User = get_user_model()


def project_payload(
    project, user, *, counts: dict | None = None, roles: list | None = None
) -> dict:
    config = services.project_config(project)
    if roles is None:
        membership = access.membership_of(user, project)
        roles = membership.roles if membership else []
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "task_type": project.task_type,
        "config": config.config,
        "config_version": config.number,
        "time_zone": project.time_zone,
        "overlap": project.overlap,
        "consensus": project.consensus,
        "review_policy": project.review_policy,
        "audit_sample": float(project.audit_sample),
        "lease_seconds": project.lease_seconds,
        "queue_order": project.queue_order,
        "queue_seed": project.queue_seed,
        "audit_seed": project.audit_seed,
        "anonymous_review": project.anonymous_review,
        "reason_codes": project.reason_codes,
        "archived": project.is_archived,
        "created_at": project.created_at,
        "roles": roles,
        "counts": counts if counts is not None else selectors.project_item_counts(project),
        "warnings": selectors.project_warnings(project),
    }


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
                project_payload(x.project, request.user, counts=x.counts, roles=x.roles)
                for x in summaries
            ]
        )

    @extend_schema(request=s.ProjectInput, responses={201: s.ProjectOutput})
    def post(self, request):
        data = s.reject_unknown(request.data, set(s.ProjectInput().fields))
        project = services.project_create(
            user=request.user,
            name=data.pop("name", None),
            task_type=data.pop("task_type", None),
            config=data.pop("config", None),
            **data,
        )
        return Response(project_payload(project, request.user), status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.VIEW, "PATCH": access.CHANGE}

    @extend_schema(responses=s.ProjectOutput)
    def get(self, request, project_id: int):
        return Response(project_payload(self.project, request.user))

    @extend_schema(request=s.ProjectPatchInput, responses=s.ProjectOutput)
    def patch(self, request, project_id: int):
        data = s.reject_unknown(request.data, set(s.ProjectPatchInput().fields))
        config_keys = {"config", "task_type", "config_note", "confirm"}
        config_part = {k: data.pop(k) for k in list(data) if k in config_keys}
        if not isinstance(config_part.get("confirm", False), bool):
            raise InvalidInput("must be true or false", field="confirm")
        if not isinstance(config_part.get("config_note", ""), str):
            raise InvalidInput("must be text", field="config_note")
        # One request, one outcome: when the schema part is refused (400, or
        # 409 for want of confirmation) the settings part is rolled back too.
        with transaction.atomic():
            project = self.project
            if data:
                project = services.project_update(project=project, user=request.user, **data)
            if "config" in config_part or "task_type" in config_part:
                current = services.project_config(project)
                change = services.project_config_update(
                    project=project,
                    user=request.user,
                    config=config_part.get("config", current.config),
                    task_type=config_part.get("task_type"),
                    note=config_part.get("config_note", ""),
                    confirm=config_part.get("confirm", False),
                )
                if change.needs_confirmation and not change.applied:
                    raise Conflict(
                        "This config change affects existing annotations; "
                        'send it again with "confirm": true to apply it.',
                        impact=change.as_dict(),
                    )
                project.refresh_from_db()
        return Response(project_payload(project, request.user))


class ProjectArchiveView(ProjectPermissionMixin, APIView):
    project_perm = access.CHANGE

    @extend_schema(request=None, responses=s.ProjectOutput)
    def post(self, request, project_id: int):
        project = services.project_archive(project=self.project, user=request.user)
        return Response(project_payload(project, request.user))


class ProjectUnarchiveView(ProjectPermissionMixin, APIView):
    project_perm = access.CHANGE
    project_write = False  # the one write allowed on an archived project

    @extend_schema(request=None, responses=s.ProjectOutput)
    def post(self, request, project_id: int):
        project = services.project_unarchive(project=self.project, user=request.user)
        return Response(project_payload(project, request.user))


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
        data = s.reject_unknown(request.data, set(s.ConfigInput().fields))
        for flag in ("dry_run", "confirm"):
            if flag in data and not isinstance(data[flag], bool):
                raise InvalidInput("must be true or false", field=flag)
        change = services.project_config_update(
            project=self.project,
            user=request.user,
            config=data.get("config"),
            task_type=data.get("task_type"),
            note=data.get("note") or "",
            dry_run=data.get("dry_run", False),
            confirm=data.get("confirm", False),
        )
        if change.needs_confirmation and not change.applied and not data.get("dry_run"):
            return Response(
                {
                    "detail": "This change affects existing annotations; confirm it.",
                    "impact": change.as_dict(),
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(change.as_dict(), status=201 if change.applied else 200)


class MemberListView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.VIEW, "POST": access.MANAGE_MEMBERS}

    @extend_schema(responses=s.MemberOutput(many=True))
    def get(self, request, project_id: int):
        return paginated(request, self, selectors.members(self.project), s.MemberOutput)

    @extend_schema(request=s.MemberInput, responses={200: s.MemberOutput, 201: s.MemberOutput})
    def post(self, request, project_id: int):
        data = s.reject_unknown(request.data, {"user", "roles"})
        user_id = data.get("user")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise InvalidInput("must be a user id", field="user")
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise InvalidInput("no such active user", field="user")
        existed = self.project.memberships.filter(user=user).exists()
        membership = services.membership_set(
            project=self.project, user=user, roles=data.get("roles")
        )
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
        data = s.reject_unknown(request.data, {"email", "roles"})
        token, invite = services.invite_create(
            project=self.project,
            email=data.get("email"),
            roles=data.get("roles"),
            user=request.user,
        )
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
        data = s.reject_unknown(request.data, {"body", "note"})
        version = services.guideline_publish(
            project=self.project,
            user=request.user,
            note=data.get("note", ""),
            body=data.get("body"),
        )
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
        data = s.reject_unknown(request.data, {"body"})
        draft = services.guideline_draft_save(
            project=self.project, user=request.user, body=data.get("body")
        )
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
        return Response([line.__dict__ for line in lines])


class StatsView(ProjectPermissionMixin, APIView):
    @extend_schema(responses=s.StatsOutput)
    def get(self, request, project_id: int):
        body = {
            "items": selectors.project_item_counts(self.project),
            "annotations_per_annotator": [],
        }
        # Per-annotator figures are for leads; an annotator sees only the totals.
        if access.has_perm(request.user, self.project, access.VIEW_STATS):
            from annotation.queue_selectors import annotator_counts

            body["annotations_per_annotator"] = annotator_counts(self.project)
        return Response(body)
