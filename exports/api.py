"""REST API v1 for exports: start one, list and read dataset versions,
download their files, compare two versions. Leads only (``access.EXPORT``)."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.api import CursorPagination, error_body
from accord.errors import Conflict, InvalidInput
from projects import access
from projects.api import ProjectPermissionMixin
from projects.jobs_api import JobOutput, job_payload

from . import formats
from .bundle import BUNDLE
from .models import DatasetVersion
from .params import is_dry_run
from .start import export_preview, export_start
from .versions import manifest_compare, open_version_file


class ExportInput(serializers.Serializer):
    format = serializers.CharField(help_text="jsonl, csv, parquet, hf, chat, preference, raw")
    splits = serializers.DictField(
        child=serializers.FloatField(), allow_null=True, required=False,
        help_text='{"train": 0.8, "validation": 0.1, "test": 0.1}, or null for one file "all"',
    )  # fmt: skip
    group_by = serializers.CharField(allow_null=True, required=False, help_text="a meta field")
    filters = serializers.JSONField(
        required=False,
        help_text="source (list), min_guideline_version, labels (list), decided_from, "
        "decided_to (ISO times), include_excluded (false)",
    )
    options = serializers.JSONField(
        required=False,
        help_text="provenance (bool, false), include_meta (bool, true), system_prompt, "
        "prompt_template",
    )
    dry_run = serializers.BooleanField(
        required=False,
        help_text="true: answer the split sizes (200) and assign and store nothing",
    )


class SplitSizeOutput(serializers.Serializer):
    records = serializers.IntegerField()
    groups = serializers.IntegerField()
    new_records = serializers.IntegerField(help_text="records the export would give a split now")


class PreviewOutput(serializers.Serializer):
    params = serializers.JSONField()
    records = serializers.IntegerField()
    groups = serializers.IntegerField()
    new_records = serializers.IntegerField()
    splits = serializers.DictField(child=SplitSizeOutput())
    errors = serializers.ListField(child=serializers.DictField())


class VersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    status = serializers.CharField()
    format = serializers.CharField()
    params = serializers.JSONField()
    records = serializers.IntegerField()
    counts = serializers.JSONField()
    sha256 = serializers.CharField()
    datasheet = serializers.JSONField(required=False)
    datasheet_sha256 = serializers.CharField()
    manifest = serializers.JSONField()
    files = serializers.JSONField()
    created_at = serializers.DateTimeField()
    succeeded_at = serializers.DateTimeField(allow_null=True)
    job = JobOutput(allow_null=True)


def version_payload(version: DatasetVersion, *, datasheet: bool = True) -> dict:
    body = {
        "id": version.pk,
        "project": version.project_id,
        "status": version.status,
        "format": version.format,
        "params": version.params,
        "records": version.records,
        "counts": version.counts,
        "sha256": version.sha256,
        "datasheet_sha256": version.datasheet_sha256,
        "manifest": {"records": version.records, "splits": version.counts.get("splits", {})},
        "files": version.files,
        "created_at": version.created_at,
        "succeeded_at": version.succeeded_at,
        "job": job_payload(version.job) if version.job is not None else None,
    }
    if datasheet:
        body["datasheet"] = version.datasheet
    return body


class NewestFirst(CursorPagination):
    ordering = "-id"


class ExportListView(ProjectPermissionMixin, APIView):
    project_perm = access.EXPORT

    @extend_schema(responses=VersionOutput(many=True))
    def get(self, request, project_id: int):
        versions = DatasetVersion.objects.filter(project=self.project).select_related("job")
        paginator = NewestFirst()
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response([version_payload(v, datasheet=False) for v in page])

    @extend_schema(
        request=ExportInput,
        responses={
            202: VersionOutput,
            200: PolymorphicProxySerializer(
                component_name="ExportOrPreview",
                serializers=[VersionOutput, PreviewOutput],
                resource_type_field_name=None,
            ),
        },
        description="Start an export. 202 with the new (or still running) version and its job; "
        "200 with the existing version when the same request was made of the same gold. "
        'With "dry_run": true, 200 with the split sizes (records and groups per split) and '
        "nothing assigned or stored; 400 with the same sizes when the export would be refused.",
    )
    def post(self, request, project_id: int):
        if is_dry_run(request.data):
            preview = export_preview(project=self.project, raw=request.data)
            body = preview.payload()
            if preview.errors:
                return Response({**body, **error_body(preview.errors)}, status=400)
            return Response(body)
        started = export_start(project=self.project, user=request.user, raw=request.data)
        version = started.version
        done = version.succeeded_at is not None
        return Response(
            version_payload(version),
            status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED,
        )


class ExportDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=VersionOutput)
    def get(self, request, export_id: int):
        return Response(version_payload(access.access_dataset_version(request.user, export_id)))


def _require_done(version: DatasetVersion) -> None:
    if version.succeeded_at is None:
        raise Conflict(
            f"The export is not ready (status: {version.status}).", status=version.status
        )


class ExportDownloadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("split", str, description="one data file instead of the zip")],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request, export_id: int):
        version = access.access_dataset_version(request.user, export_id)
        _require_done(version)
        slug = slugify(version.project.name)[:60] or "project"
        split = request.query_params.get("split")
        if split is None:
            name = BUNDLE
            filename = f"{slug}-v{version.pk}.zip"
            content_type = "application/zip"
        else:
            entry = version.file(split=split)
            if entry is None:
                raise Http404
            name = entry["name"]
            extension = formats.get(version.format).extension
            filename = f"{slug}-v{version.pk}-{split}{extension}"
            content_type = entry["content_type"]
        # Streamed from storage through this permission check: export files
        # are never served from a public media URL.
        response = FileResponse(
            open_version_file(version, name),
            as_attachment=True,
            filename=filename,
            content_type=content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


class ExportCompareView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=dict)
    def get(self, request, export_id: int, other_id: int):
        a = access.access_dataset_version(request.user, export_id)
        b = access.access_dataset_version(request.user, other_id)
        if a.project_id != b.project_id:
            raise InvalidInput("both versions must belong to one project", field="other_id")
        _require_done(a)
        _require_done(b)
        return Response(manifest_compare(a, b))
