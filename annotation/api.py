"""REST API v1 for the queue: claim, submit, skip, later, drafts, the
annotator's history with edit and undo, and the lead's lease view.

Blind by construction: every payload an annotator gets is built here from
their own rows only, never another annotator's value or the item's outcome.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.api import NewestFirstPagination
from projects import access
from projects.api import ProjectPermissionMixin
from projects.fields import (
    AnyJSONField,
    FlagField,
    InputSerializer,
    OneOfField,
    ReasonField,
    WholeNumberField,
    input_validate,
)

from . import selectors
from .models import Annotation, Assignment
from .queue.claim import NEXT_REASONS, NothingLeft, assignment_claim, assignment_next
from .queue.release import (
    MAX_REASON,
    SKIP_REASON_REQUIRED,
    assignment_draft,
    assignment_later,
    assignment_skip,
    assignment_unskip,
    lease_release,
)
from .queue.revisions import annotation_edit, annotation_undo
from .queue.submit import annotation_submit, item_override

NO_CONTENT_HEADERS = {
    "Accord-Reason": '"nothing-left" (nothing left for you) or "all-leased" (try again later)',
    "Retry-After": "seconds, with all-leased",
}


# The payloads every annotator fetches every few seconds: each class declares
# its fields (what drf-spectacular documents) and renders an object in one
# step (``to_representation``), not field by field: a field-by-field
# serializer per response cost more than the claim's own queries.
# tests/queue/test_payloads_match_their_schema.py keeps the two in step.


class ItemBrief(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    data = serializers.JSONField()

    def to_representation(self, item) -> dict:
        return {"id": item.pk, "external_id": item.external_id, "data": item.data}


class AssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    state = serializers.CharField()
    item = ItemBrief()
    leased_until = serializers.DateTimeField(source="expires_at")
    draft = serializers.JSONField(allow_null=True)
    draft_saved_at = serializers.DateTimeField(allow_null=True)
    preannotation = serializers.JSONField(
        allow_null=True, help_text="reserved: no claim shows a pre-annotation yet (always null)"
    )
    config_version = serializers.IntegerField()
    guideline_version = serializers.IntegerField(allow_null=True)
    resumed = serializers.BooleanField(
        required=False,
        help_text="on a claim: true when this is the caller's unexpired lease, given again",
    )

    def to_representation(self, assignment: Assignment) -> dict:
        body = {
            "id": assignment.pk,
            "project": assignment.project_id,
            "state": assignment.state,
            "item": ItemBrief().to_representation(assignment.item),
            "leased_until": _time(assignment.expires_at),
            "draft": assignment.draft,
            "draft_saved_at": _time(assignment.draft_saved_at),
            "preannotation": None,
            "config_version": assignment.config_version,
            "guideline_version": assignment.guideline_version,
        }
        resumed = self.context.get("resumed")
        if resumed is not None:
            body["resumed"] = resumed
        return body


class AnnotationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    assignment = serializers.IntegerField(source="assignment_id")
    item = ItemBrief()
    value = serializers.JSONField()
    revision = serializers.IntegerField()
    frozen = serializers.BooleanField(help_text="the item was compared: no edit or undo")
    config_version = serializers.IntegerField()
    guideline_version = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, annotation: Annotation) -> dict:
        return {
            "id": annotation.pk,
            "assignment": annotation.assignment_id,
            "item": ItemBrief().to_representation(annotation.item),
            "value": annotation.value,
            "revision": annotation.revision,
            "frozen": annotation.item.compared_at is not None,
            "config_version": annotation.config_version,
            "guideline_version": annotation.guideline_version,
            "created_at": _time(annotation.created_at),
            "updated_at": _time(annotation.updated_at),
        }


class SubmitInput(InputSerializer):
    value = AnyJSONField(help_text="the task type's value, e.g. a label key")
    active_ms = WholeNumberField(
        low=0,
        high=7 * 86_400_000,
        reason="must be a whole number of milliseconds",
        required=False,
        allow_null=True,
        help_text="client's active time",
    )
    preannotation_shown = FlagField(
        required=False,
        help_text="ignored: the server records whether it showed a pre-annotation "
        "(accepted so that older clients keep working)",
    )
    next = FlagField(
        required=False,
        help_text="true: the answer also carries the caller's next assignment (`next`), "
        "or null with `next_reason`, as the claim would answer",
    )


class SubmitAndNextOutput(AnnotationOutput):
    next = AssignmentOutput(allow_null=True, help_text="the claim's answer: the next assignment")
    next_reason = serializers.ChoiceField(
        list(NEXT_REASONS),
        allow_null=True,
        help_text="why `next` is null: the claim's Accord-Reason, or rate-limited, unavailable",
    )
    retry_after = serializers.IntegerField(
        allow_null=True, help_text="seconds to wait before claiming again, when `next` is null"
    )


class ValueInput(InputSerializer):
    """A draft, or an edit of a submitted annotation."""

    value = AnyJSONField()


class SkipInput(InputSerializer):
    """Also what the workspace's skip form is judged by."""

    reason = ReasonField(
        max_length=MAX_REASON,
        required_reason=SKIP_REASON_REQUIRED,
        help_text="why this item is skipped (required)",
    )


class NoInput(InputSerializer):
    """Later, unskip, undo: the body is empty (or {})."""


def _time(value) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


def assignment_payload(assignment: Assignment, *, resumed: bool | None = None) -> dict:
    return AssignmentOutput(assignment, context={"resumed": resumed}).data


def annotation_payload(annotation: Annotation) -> dict:
    return AnnotationOutput(annotation).data


class ClaimView(ProjectPermissionMixin, APIView):
    project_perm = access.ANNOTATE

    @extend_schema(
        request=None,
        responses={
            200: AssignmentOutput,
            204: OpenApiResponse(description=f"nothing to give now; headers {NO_CONTENT_HEADERS}"),
        },
    )
    def post(self, request, project_id: int):
        try:
            claim = assignment_claim(project=self.project, user=request.user)
        except NothingLeft as empty:
            response = Response(status=204)
            response["Accord-Reason"] = "all-leased" if empty.reason == "leased" else "nothing-left"
            if empty.retry_after:
                response["Retry-After"] = str(empty.retry_after)
            return response
        return Response(assignment_payload(claim.assignment, resumed=claim.resumed))


class AssignmentDetailView(APIView):
    @extend_schema(responses=AssignmentOutput)
    def get(self, request, assignment_id: int):
        assignment = access.access_assignment(request.user, assignment_id, write=False)
        return Response(assignment_payload(assignment))


def next_payload(project, user) -> dict:
    """The claim's answer inside a submit's: ``next`` is the assignment, or
    null with ``next_reason`` (the 204's Accord-Reason, or why the claim was
    not made) and ``retry_after``."""
    found = assignment_next(project=project, user=user)
    return {
        "next": None
        if found.assignment is None
        else assignment_payload(found.assignment, resumed=found.resumed),
        "next_reason": found.reason,
        "retry_after": found.retry_after,
    }


class SubmitView(APIView):
    @extend_schema(
        request=SubmitInput,
        responses={
            201: OpenApiResponse(
                SubmitAndNextOutput,
                description="the annotation; with `next: true` also `next`, `next_reason` "
                "and `retry_after`",
            ),
            200: OpenApiResponse(SubmitAndNextOutput, description="the same value again"),
        },
    )
    def post(self, request, assignment_id: int):
        assignment = access.access_assignment(request.user, assignment_id)
        data = input_validate(SubmitInput, request.data)
        done = annotation_submit(
            assignment=assignment,
            user=request.user,
            value=data["value"],
            active_ms=data.get("active_ms"),
        )
        body = annotation_payload(done.annotation)
        if data.get("next"):
            body |= next_payload(assignment.project, request.user)
        return Response(body, status=201 if done.created else 200)


class SkipView(APIView):
    @extend_schema(request=SkipInput, responses=AssignmentOutput)
    def post(self, request, assignment_id: int):
        assignment = access.access_assignment(request.user, assignment_id)
        data = input_validate(SkipInput, request.data)
        skipped = assignment_skip(assignment=assignment, user=request.user, reason=data["reason"])
        return Response(assignment_payload(skipped))


class UnskipView(APIView):
    @extend_schema(request=None, responses=AssignmentOutput)
    def post(self, request, assignment_id: int):
        assignment = access.access_assignment(request.user, assignment_id)
        input_validate(NoInput, request.data)
        taken_back = assignment_unskip(assignment=assignment, user=request.user)
        return Response(assignment_payload(taken_back))


class OwnHistoryView(ProjectPermissionMixin, APIView):
    """The caller's own work in a project, newest first, a page at a time:
    a subclass says which rows and how each is shown."""

    project_perm = access.ANNOTATE
    project_write = False

    def rows(self, request):
        raise NotImplementedError

    def shown(self, page) -> list:
        raise NotImplementedError

    def get(self, request, project_id: int):
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(self.rows(request), request, view=self)
        return paginator.get_paginated_response(self.shown(page))


@extend_schema_view(get=extend_schema(responses=AssignmentOutput(many=True)))
class MySkipsView(OwnHistoryView):
    def rows(self, request):
        return selectors.own_skips(project=self.project, user=request.user)

    def shown(self, page) -> list:
        return [
            assignment_payload(a)
            | {"skip_reason": a.skip_reason, "skipped_at": _time(a.finished_at)}
            for a in page
        ]


@extend_schema_view(get=extend_schema(responses=AnnotationOutput(many=True)))
class MyAnnotationsView(OwnHistoryView):
    def rows(self, request):
        return selectors.own_annotations(project=self.project, user=request.user)

    def shown(self, page) -> list:
        return AnnotationOutput(page, many=True).data


class LaterView(APIView):
    @extend_schema(request=None, responses=AssignmentOutput)
    def post(self, request, assignment_id: int):
        assignment = access.access_assignment(request.user, assignment_id)
        input_validate(NoInput, request.data)
        deferred = assignment_later(assignment=assignment, user=request.user)
        return Response(assignment_payload(deferred))


class DraftView(APIView):
    @extend_schema(request=ValueInput, responses=AssignmentOutput)
    def post(self, request, assignment_id: int):
        assignment = access.access_assignment(request.user, assignment_id)
        data = input_validate(ValueInput, request.data)
        saved = assignment_draft(assignment=assignment, user=request.user, value=data["value"])
        return Response(assignment_payload(saved))


class AnnotationDetailView(APIView):
    @extend_schema(responses=AnnotationOutput)
    def get(self, request, annotation_id: int):
        annotation = access.access_annotation(request.user, annotation_id)
        return Response(AnnotationOutput(annotation).data)

    @extend_schema(request=ValueInput, responses=AnnotationOutput)
    def patch(self, request, annotation_id: int):
        annotation = access.access_annotation(request.user, annotation_id, write=True)
        data = input_validate(ValueInput, request.data)
        edited = annotation_edit(annotation=annotation, user=request.user, value=data["value"])
        edited = Annotation.objects.select_related("item").get(pk=edited.pk)
        return Response(AnnotationOutput(edited).data)


class UndoView(APIView):
    @extend_schema(request=None, responses=AssignmentOutput)
    def post(self, request, annotation_id: int):
        annotation = access.access_annotation(request.user, annotation_id, write=True)
        input_validate(NoInput, request.data)
        assignment = annotation_undo(annotation=annotation, user=request.user)
        return Response(assignment_payload(assignment))


REVISION = inline_serializer(
    "AnnotationRevision",
    {
        "number": serializers.IntegerField(),
        "kind": serializers.CharField(),
        "value": serializers.JSONField(),
        "annotator": serializers.IntegerField(),
        "created_at": serializers.DateTimeField(),
    },
)


class AssignmentRevisionsView(APIView):
    """Every value of one assignment's annotation: for its annotator and leads."""

    @extend_schema(responses=REVISION)
    def get(self, request, assignment_id: int):
        assignment = selectors.assignment_for_history(request.user, assignment_id)
        return Response(selectors.revisions(assignment_ids=[assignment.pk]))


class ItemRevisionsView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW_STATS

    @extend_schema(responses=REVISION)
    def get(self, request, project_id: int, item_id: int):
        item = selectors.project_item(self.project, item_id)
        return Response(selectors.revisions(item_ids=[item.pk]))


LEASE = inline_serializer(
    "Lease",
    {
        "id": serializers.IntegerField(),
        "item": serializers.IntegerField(),
        "annotator": serializers.IntegerField(),
        "username": serializers.CharField(),
        "since": serializers.DateTimeField(),
        "leased_until": serializers.DateTimeField(),
        "draft_saved_at": serializers.DateTimeField(allow_null=True),
    },
)


class LeaseListView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW_STATS

    @extend_schema(responses=LEASE)
    def get(self, request, project_id: int):
        return Response(selectors.active_leases(self.project))


class LeaseReleaseView(ProjectPermissionMixin, APIView):
    project_perm = access.CHANGE

    @extend_schema(
        request=None,
        responses={200: inline_serializer("Released", {"released": serializers.BooleanField()})},
    )
    def post(self, request, project_id: int, assignment_id: int):
        released = lease_release(project=self.project, assignment_id=assignment_id)
        return Response({"released": released})


class UnfinishableView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW_STATS

    @extend_schema(responses=inline_serializer("Unfinishable", {"items": serializers.ListField()}))
    def get(self, request, project_id: int):
        return Response(selectors.unfinishable(self.project))


class OverrideInput(InputSerializer):
    action = OneOfField(
        ["compare", "exclude"],
        reason='must be "compare" or "exclude"',
        help_text="compare with the annotations it has, or exclude it from gold",
    )


class ItemOverrideView(ProjectPermissionMixin, APIView):
    project_perm = access.CHANGE

    @extend_schema(
        request=OverrideInput,
        responses=inline_serializer("Override", {"state": serializers.CharField()}),
    )
    def post(self, request, project_id: int, item_id: int):
        data = input_validate(OverrideInput, request.data)
        item = item_override(project=self.project, item_id=item_id, action=data["action"])
        return Response({"id": item.pk, "state": item.state, "outcome": item.outcome})
