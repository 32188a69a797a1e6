"""REST API v1 for agreement: the latest report and starting one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import access
from projects.api import ProjectPermissionMixin
from projects.jobs_api import job_payload
from projects.serializers import reject_unknown

from . import services
from .reports import ReportParams


def report_payload(report) -> dict:
    return {
        "id": report.pk,
        "created_at": report.created_at,
        "coefficient": report.coefficient,
        "value": report.value,
        "annotations": report.annotations,
        "items": report.items,
        "duration_ms": report.duration_ms,
        "params": report.params,
        "result": report.result,
        "job": report.job_id,
    }


class AgreementInput(serializers.Serializer):
    n_boot = serializers.IntegerField(required=False, min_value=0, max_value=10000)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    confidence = serializers.FloatField(required=False, min_value=0.5, max_value=0.999)


class AgreementView(ProjectPermissionMixin, APIView):
    project_perm = access.VIEW_STATS

    @extend_schema(
        responses=inline_serializer(
            "AgreementReport",
            {
                "report": serializers.JSONField(allow_null=True),
                "running": serializers.JSONField(allow_null=True),
            },
        )
    )
    def get(self, request, project_id: int):
        report = services.latest_report(self.project)
        running = services.running_report(self.project)
        return Response(
            {
                "report": report_payload(report) if report else None,
                "running": job_payload(running) if running else None,
            }
        )

    @extend_schema(
        request=AgreementInput,
        responses={202: inline_serializer("AgreementJob", {"job": serializers.JSONField()})},
    )
    def post(self, request, project_id: int):
        data = reject_unknown(request.data or {}, {"n_boot", "seed", "confidence"})
        serializer = AgreementInput(data=data)
        serializer.is_valid(raise_exception=True)
        params = ReportParams(**serializer.validated_data)
        job = services.report_start(project=self.project, user=request.user, params=params)
        return Response({"job": job_payload(job)}, status=202)
