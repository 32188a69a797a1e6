"""REST API v1 for items: import, list with filters, priorities, delete, archive."""

from __future__ import annotations

import io

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accord.api import CursorPagination
from accord.errors import InvalidInput
from projects import access
from projects.api import ProjectPermissionMixin
from projects.jobs import job_create, job_enqueue
from projects.jobs_api import JobOutput, job_payload
from projects.serializers import reject_unknown

from . import importer, parsing, selectors, services
from .models import Item


class ItemOutput(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = [
            "id",
            "external_id",
            "data",
            "meta",
            "state",
            "priority",
            "content_hash",
            "created_at",
        ]


class RawBodyParser(JSONParser):
    """Leaves a JSON body unread: the import streams it to storage instead of
    parsing a possibly huge array in the request."""

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


JOB_ANSWER = inline_serializer("JobAnswer", {"job": JobOutput()})
IMPORT_OPTIONS = ["format", "partial", "on_conflict", "text_column", "id_column"]
ACCEPTED_TYPES = (
    "send application/json (a JSON array of items) or multipart/form-data "
    "(a JSONL, JSON, CSV or TSV file as `file`)"
)


class ItemListView(ProjectPermissionMixin, APIView):
    project_perm = access.IMPORT_ITEMS
    parser_classes = [RawBodyParser, MultiPartParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str),
            OpenApiParameter("external_id", str),
            OpenApiParameter("q", str, description="text contains"),
            OpenApiParameter("meta.<field>", str, description="metadata field equals"),
        ],
        responses=ItemOutput(many=True),
    )
    def get(self, request, project_id: int):
        items = selectors.items_filter(self.project, request.query_params)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(ItemOutput(page, many=True).data)

    @extend_schema(
        description=(
            "Import items: a JSON array as the body (options in the query string), or a JSONL, JSON, CSV or TSV "
            "file as multipart `file` (options as form fields): format, partial, on_conflict (skip|update), "
            "text_column, id_column. Answers 202 with the job."
        ),
        request={"application/json": list[dict], "multipart/form-data": dict},
        responses={
            202: JOB_ANSWER,
            415: OpenApiResponse(
                description="Another body type, or a file of a type its name does not tell"
            ),
        },
    )
    def post(self, request, project_id: int):
        # The body is streamed to storage unparsed, so DRF's parser choice
        # never runs: the type is checked here, or text/plain would pass.
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            upload = request.FILES.get("file")
            if upload is None:
                raise InvalidInput("is required", field="file")
            if upload.size == 0:
                raise InvalidInput("is empty", field="file")
            form = {k: request.data.get(k) for k in request.data if k != "file"}
            reject_unknown(form, set(IMPORT_OPTIONS))
            if not form.get("format") and parsing.guess_format(upload.name or "") is None:
                raise exceptions.UnsupportedMediaType(
                    media_type,
                    detail=(
                        "The file is not JSONL, JSON, CSV or TSV by its name (.jsonl, .ndjson, "
                        ".json, .csv, .tsv); name it so, or say which with `format`."
                    ),
                )
            options = importer.ImportOptions.parse(form, filename=upload.name or "")
            job = importer.import_start(
                project=self.project,
                user=request.user,
                stream=upload,
                filename=upload.name or "",
                options=options,
            )
        elif media_type == "application/json":
            params = reject_unknown(
                dict(request.query_params.items()), set(IMPORT_OPTIONS) - {"format"}
            )
            options = importer.ImportOptions.parse({**params, "format": "json"})
            stream = _json_body(request)
            job = importer.import_start(
                project=self.project,
                user=request.user,
                stream=stream,
                filename="body.json",
                options=options,
            )
        else:
            raise exceptions.UnsupportedMediaType(
                media_type, detail=f"Unsupported media type {media_type[:100]!r}: {ACCEPTED_TYPES}."
            )
        return Response({"job": job_payload(job)}, status=status.HTTP_202_ACCEPTED)


def _json_body(request) -> io.BufferedReader:
    """The raw body, checked to start like a JSON array, as a stream."""
    raw = request._request  # the Django request: its body has not been read
    head = raw.read(64 * 1024)
    if not head.strip():
        raise InvalidInput("the body is empty: send a JSON array of items", field="body")
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        raise InvalidInput("must be a JSON array of items", field="body")
    return io.BufferedReader(parsing.Prefixed(head, raw))


class ItemDetailView(ProjectPermissionMixin, APIView):
    project_perms = {"GET": access.IMPORT_ITEMS, "DELETE": access.IMPORT_ITEMS}

    @extend_schema(responses=ItemOutput)
    def get(self, request, project_id: int, item_id: int):
        item = Item.objects.filter(project=self.project, pk=item_id).first()
        if item is None:
            return Response({"detail": "Not found."}, status=404)
        return Response(ItemOutput(item).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, item_id: int):
        if not Item.objects.filter(project=self.project, pk=item_id).exists():
            return Response({"detail": "Not found."}, status=404)
        services.items_delete(project=self.project, ids=[item_id])
        return Response(status=status.HTTP_204_NO_CONTENT)


IDS_INPUT = inline_serializer(
    "ItemIds", {"ids": serializers.ListField(child=serializers.IntegerField())}
)


def _ids(data) -> list[int]:
    data = reject_unknown(data, {"ids"})
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > 10000:
        raise InvalidInput("must be a list of 1 to 10000 item ids", field="ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InvalidInput("must hold item ids (whole numbers)", field="ids")
    return ids


class ItemBulkDeleteView(ProjectPermissionMixin, APIView):
    project_perm = access.IMPORT_ITEMS

    @extend_schema(
        request=IDS_INPUT,
        responses=inline_serializer("Deleted", {"deleted": serializers.IntegerField()}),
    )
    def post(self, request, project_id: int):
        return Response(
            {"deleted": services.items_delete(project=self.project, ids=_ids(request.data))}
        )


class ItemBulkArchiveView(ProjectPermissionMixin, APIView):
    project_perm = access.IMPORT_ITEMS

    @extend_schema(
        request=IDS_INPUT,
        responses=inline_serializer("Archived", {"archived": serializers.IntegerField()}),
    )
    def post(self, request, project_id: int):
        return Response(
            {"archived": services.items_archive(project=self.project, ids=_ids(request.data))}
        )


class ItemPriorityView(ProjectPermissionMixin, APIView):
    project_perm = access.IMPORT_ITEMS

    @extend_schema(
        description=(
            'Set priorities as a job: {"priority": p, "ids": [...]}, {"priority": p, "filter": {"state": "open", '
            '"meta.source": "web"}}, or {"items": [{"id": 1, "priority": 0.9}, {"external_id": "a", "priority": 0.2}]}.'
        ),
        request=dict,
        responses={202: JOB_ANSWER},
    )
    def post(self, request, project_id: int):
        params = services.clean_priorities(request.data)
        if params["mode"] == "filter":
            selectors.items_filter(self.project, params["filter"])  # 400 now, not in the job
        job = job_create(project=self.project, kind="priority", user=request.user, params=params)
        job_enqueue(job)
        return Response({"job": job_payload(job)}, status=status.HTTP_202_ACCEPTED)
