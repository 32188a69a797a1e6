from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import access
from .jobs import job_cancel
from .models import Job


class JobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id", allow_null=True)
    kind = serializers.CharField()
    status = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    result = serializers.JSONField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def job_payload(job: Job) -> dict:
    return JobOutput(job).data


class JobDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=JobOutput)
    def get(self, request, job_id: int):
        return Response(job_payload(access.access_job(request.user, job_id)))


class JobCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=JobOutput)
    def post(self, request, job_id: int):
        job = job_cancel(job=access.access_job(request.user, job_id))
        return Response(job_payload(job))
