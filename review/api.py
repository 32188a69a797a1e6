"""REST API v1 for review: the review queue, blind audit labels, resolving,
gold records with their history and re-adjudication, feedback, and the
lead's review progress."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.api import CursorPagination
from accord.errors import InvalidInput
from annotation.queue.claim import NothingLeft
from projects import access
from projects.api import ProjectPermissionMixin
from projects.serializers import reject_unknown

from . import gold as gold_service
from . import gold_list, lead_selectors, leases, selectors, worked_examples

NO_CONTENT = OpenApiResponse(
    description='nothing to review now; header Accord-Reason "nothing-left" or "all-leased" '
    "(with Retry-After)"
)


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    kind = serializers.ChoiceField(["disagreement", "audit"])
    state = serializers.CharField()
    item = serializers.JSONField()
    leased_until = serializers.DateTimeField()
    blind = serializers.BooleanField(help_text="true: label the item (blind/) before resolving")
    blind_value = serializers.JSONField(allow_null=True)
    annotations = serializers.ListField(child=serializers.JSONField())
    disputed = serializers.ListField(child=serializers.CharField())
    config_version = serializers.IntegerField()
    guideline_version = serializers.IntegerField(allow_null=True)
    gold_revision = serializers.IntegerField(
        allow_null=True,
        help_text="the gold revision this review's decision made (null until resolved)",
    )
    resumed = serializers.BooleanField(required=False)


class DecisionInput(serializers.Serializer):
    value = serializers.JSONField(required=False, help_text="the gold value")
    annotation = serializers.IntegerField(required=False, help_text="accept this annotation")
    exclude = serializers.BooleanField(required=False, help_text="exclude the item from gold")
    reason = serializers.CharField(
        required=False, help_text="required when an annotator is overruled or on exclusion"
    )
    reason_code = serializers.CharField(required=False)


class AdjudicateInput(DecisionInput):
    revision = serializers.IntegerField(
        help_text="the revision the decision was made against (or send If-Match)"
    )


class GoldOutput(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField()
    revision = serializers.IntegerField()
    value = serializers.JSONField(allow_null=True)
    excluded = serializers.BooleanField()
    source = serializers.ChoiceField(["consensus", "adjudicated", "audit-confirmed"])
    annotations = serializers.ListField(child=serializers.IntegerField())
    reviewer = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    reason_code = serializers.CharField()
    config_version = serializers.IntegerField()
    guideline_version = serializers.IntegerField(allow_null=True)
    min_guideline_version = serializers.IntegerField(allow_null=True)
    decided_at = serializers.DateTimeField()


GOLD_QUERY_KEYS = (*gold_list.GOLD_FILTER_KEYS, "cursor", "page_size")
DECISION_FIELDS = {"value", "annotation", "exclude", "reason", "reason_code"}


def _decision(data: dict) -> dict:
    out = {k: data[k] for k in ("annotation", "exclude", "reason", "reason_code") if k in data}
    if "value" in data:
        out["value"] = data["value"]
    return out


def _review_response(review, *, resumed: bool | None = None, status: int = 200) -> Response:
    body = selectors.review_payload(review)
    if resumed is not None:
        body["resumed"] = resumed
    return Response(body, status=status)


class ReviewClaimView(ProjectPermissionMixin, APIView):
    project_perm = access.REVIEW

    @extend_schema(request=None, responses={200: ReviewOutput, 204: NO_CONTENT})
    def post(self, request, project_id: int):
        try:
            claim = leases.review_claim(project=self.project, user=request.user)
        except NothingLeft as empty:
            response = Response(status=204)
            response["Accord-Reason"] = "all-leased" if empty.reason == "leased" else "nothing-left"
            if empty.retry_after:
                response["Retry-After"] = str(empty.retry_after)
            return response
        claim.review.project = self.project
        return _review_response(claim.review, resumed=claim.resumed)


class ReviewDetailView(APIView):
    @extend_schema(responses=ReviewOutput)
    def get(self, request, review_id: int):
        return _review_response(access.access_review(request.user, review_id))


class ReviewBlindView(APIView):
    @extend_schema(
        request=inline_serializer("BlindInput", {"value": serializers.JSONField()}),
        responses=ReviewOutput,
    )
    def post(self, request, review_id: int):
        review = access.access_review(request.user, review_id, write=True)
        data = reject_unknown(request.data, {"value"})
        project = review.project
        review = leases.review_blind(review=review, user=request.user, value=data.get("value"))
        review.project = project
        return _review_response(review)


class ReviewResolveView(APIView):
    @extend_schema(
        request=DecisionInput,
        responses={
            201: inline_serializer("Resolved", {"gold": GoldOutput(), "review": ReviewOutput()}),
            200: OpenApiResponse(description="the same decision again: the stored gold"),
        },
    )
    def post(self, request, review_id: int):
        review = access.access_review(request.user, review_id, write=True)
        data = reject_unknown(request.data, DECISION_FIELDS)
        gold, created = gold_service.review_resolve(
            review=review, user=request.user, **_decision(data)
        )
        review = access.access_review(request.user, review_id)
        return Response(
            {"gold": selectors.gold_payload(gold), "review": selectors.review_payload(review)},
            status=201 if created else 200,
        )


class ReviewReleaseView(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer("ReviewGivenBack", {"released": serializers.BooleanField()}),
    )
    def post(self, request, review_id: int):
        review = access.access_review(request.user, review_id, write=True)
        return Response({"released": leases.review_release(review=review, user=request.user)})


class ReviewPrecedentsView(APIView):
    @extend_schema(responses=inline_serializer("Precedents", {"results": serializers.ListField()}))
    def get(self, request, review_id: int):
        review = access.access_review(request.user, review_id)
        if review.kind == "audit" and review.blind_at is None:
            return Response({"results": []})  # the panel would give the answer away
        return Response({"results": selectors.precedents(review)})


class GoldListView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "label",
                str,
                many=True,
                description="the gold holds this label (repeat for any of several)",
            ),
            OpenApiParameter(
                "source",
                str,
                many=True,
                description="consensus, adjudicated or audit-confirmed (repeat for any of several)",
            ),
            OpenApiParameter("reviewer", int, description="decided by this user id"),
            OpenApiParameter(
                "decided_from",
                str,
                description="a day (YYYY-MM-DD, the project's time zone) or an ISO 8601 time, inclusive",
            ),
            OpenApiParameter(
                "decided_to",
                str,
                description="a day (through its end) or an ISO 8601 time (exclusive)",
            ),
        ],
        responses=GoldOutput(many=True),
    )
    def get(self, request, project_id: int):
        access.access_gold_project(request.user, project_id)
        unknown = sorted(set(request.query_params) - set(GOLD_QUERY_KEYS))
        if unknown:
            raise InvalidInput(
                [
                    {
                        "field": key[:100],
                        "reason": "unknown filter; use " + ", ".join(gold_list.GOLD_FILTER_KEYS),
                    }
                    for key in unknown
                ]
            )
        filters = gold_list.gold_filters_parse(self.project, request.query_params)
        rows = gold_list.gold_records(self.project, filters)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([selectors.gold_payload(g) for g in page])


class GoldDetailView(APIView):
    @extend_schema(responses=GoldOutput)
    def get(self, request, gold_id: int):
        return Response(selectors.gold_payload(access.access_gold(request.user, gold_id)))


class GoldHistoryView(APIView):
    @extend_schema(responses=GoldOutput(many=True))
    def get(self, request, gold_id: int):
        gold = access.access_gold(request.user, gold_id)
        return Response({"id": gold.pk, "history": selectors.gold_history(gold)})


class GoldAdjudicateView(APIView):
    @extend_schema(request=AdjudicateInput, responses={200: GoldOutput})
    def post(self, request, gold_id: int):
        gold = access.access_gold(request.user, gold_id, write=True)
        data = reject_unknown(request.data, DECISION_FIELDS | {"revision"})
        revision = data.get("revision", request.headers.get("If-Match", "").strip('"W/ ') or None)
        updated = gold_service.gold_adjudicate(
            gold=gold, user=request.user, revision=revision, **_decision(data)
        )
        return Response(selectors.gold_payload(updated))


class GoldPromoteView(APIView):
    @extend_schema(
        request=None, responses=inline_serializer("Promoted", {"example": serializers.CharField()})
    )
    def post(self, request, gold_id: int):
        gold = access.access_gold(request.user, gold_id)
        access.access_project_or_403(request.user, gold.project_id, access.EDIT_GUIDELINES)
        return Response({"example": worked_examples.gold_promote(gold=gold, user=request.user)})


class FeedbackListView(ProjectPermissionMixin, APIView):
    project_perm = access.ANNOTATE

    @extend_schema(
        responses=inline_serializer(
            "FeedbackList",
            {"results": serializers.ListField(), "unseen": serializers.IntegerField()},
        )
    )
    def get(self, request, project_id: int):
        rows = selectors.feedback_for(self.project, request.user)
        return Response(
            {
                "unseen": selectors.unseen_feedback(self.project, request.user),
                "results": [row.payload for row in rows],
            }
        )


class FeedbackSeenView(ProjectPermissionMixin, APIView):
    project_perm = access.ANNOTATE
    project_write = False

    @extend_schema(
        request=inline_serializer("FeedbackSeen", {"ids": serializers.ListField(required=False)}),
        responses=inline_serializer("FeedbackMarked", {"marked": serializers.IntegerField()}),
    )
    def post(self, request, project_id: int):
        data = reject_unknown(request.data, {"ids"})
        marked = gold_service.feedback_mark_seen(
            project=self.project, user=request.user, ids=data.get("ids")
        )
        return Response({"marked": marked})


class ReviewStatsView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW_STATS

    @extend_schema(
        responses=inline_serializer("ReviewStats", {"progress": serializers.DictField()})
    )
    def get(self, request, project_id: int):
        return Response(
            {
                "progress": lead_selectors.review_progress(self.project),
                "reviewers": lead_selectors.reviewer_throughput(self.project),
                "overruled": lead_selectors.overruled_by_annotator(self.project),
                "active_reviews": lead_selectors.active_reviews(self.project),
            }
        )


class ReviewLeaseReleaseView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW_STATS

    @extend_schema(
        request=None,
        responses=inline_serializer("ReviewReleased", {"released": serializers.BooleanField()}),
    )
    def post(self, request, project_id: int, review_id: int):
        released = leases.review_lease_release(project=self.project, review_id=review_id)
        return Response({"released": released})
