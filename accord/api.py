"""Project-wide API plumbing: pagination and the error shape."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, InvalidInput, ProjectArchived, ServiceUnavailable
from .ratelimit import RateLimited


class CursorPagination(pagination.CursorPagination):
    # Cursor over the immutable primary key, never over a mutable field such
    # as priority, so paging never skips or repeats a row.
    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class NewestFirstPagination(CursorPagination):
    """The same cursor, newest first: histories people read from the top."""

    ordering = "-id"


def flatten_errors(detail, prefix: str = "") -> list[dict]:
    """Turn DRF's nested error detail into a flat list of {field, reason}."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            field = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.extend(flatten_errors(value, field))
        return out
    if isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            return [{"field": prefix or None, "reason": str(v)} for v in detail]
        out = []
        for index, value in enumerate(detail):
            out.extend(flatten_errors(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
        return out
    return [{"field": prefix or None, "reason": str(detail)}]


def error_body(errors: list[dict]) -> dict:
    first = errors[0] if errors else {"field": None, "reason": "invalid input"}
    summary = f"{first['field']}: {first['reason']}" if first.get("field") else first["reason"]
    return {"detail": summary, "errors": errors}


def exception_handler(exc, context):
    """Every API error is JSON with a reason; validation errors name the field.

    Shape: {"detail": <summary>, "errors": [{"field": ..., "reason": ...}]}.
    """
    if isinstance(exc, InvalidInput):
        return Response(error_body(exc.errors), status=400)
    if isinstance(exc, RateLimited):
        response = Response({"detail": str(exc)}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ServiceUnavailable):
        response = Response(
            {"detail": f"{exc.detail} Try again in {exc.retry_after} seconds."}, status=503
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Conflict):
        return Response({"detail": exc.detail, **exc.extra}, status=409)
    if isinstance(exc, ProjectArchived):
        return Response({"detail": "The project is archived and read-only."}, status=409)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(flatten_errors(exc.detail))
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(int(exc.wait) + 1)
    return response
