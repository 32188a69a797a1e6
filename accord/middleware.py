from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class UploadLimitMiddleware:
    """Refuse a body larger than ACCORD_MAX_UPLOAD_BYTES with 413 before a
    byte of it is read (SECURITY.md C9). A body of unknown length (chunked)
    is refused too, since its size cannot be checked up front."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH"):
            limit = settings.ACCORD_MAX_UPLOAD_BYTES
            raw = request.META.get("CONTENT_LENGTH") or ""
            chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            if chunked and not raw:
                return self._refuse(
                    request, 411, "Send a Content-Length: bodies of unknown length are refused."
                )
            try:
                length = int(raw) if raw else 0
            except ValueError:
                return self._refuse(request, 400, "Invalid Content-Length.")
            if length > limit:
                return self._refuse(
                    request, 413, f"The upload is larger than the limit of {limit} bytes."
                )
        return self.get_response(request)

    @staticmethod
    def _refuse(request, status: int, message: str) -> HttpResponse:
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=status)
        else:
            response = HttpResponse(
                message, status=status, content_type="text/plain; charset=utf-8"
            )
        # The body was not read, so the connection cannot be reused.
        response["Connection"] = "close"
        return response


class ServiceUnavailableMiddleware:
    """Answer 503 with Retry-After, never 500, when a request needs Redis
    (the cache, the broker) and Redis does not answer. Paths that can do
    without it (a submit's report scheduling, a job's message, the queue's
    rate limits for a while) catch the failure themselves; this is for the
    rest."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ServiceUnavailable):
            detail, retry_after = exception.detail, exception.retry_after
        elif isinstance(exception, RedisConnectionError | RedisTimeoutError | OperationalError):
            logger.warning(
                "%s %s: Redis does not answer: %s", request.method, request.path, exception
            )
            detail, retry_after = "A service Accord needs is unavailable.", 5
        else:
            return None
        return service_unavailable(request, detail, retry_after)


def service_unavailable(request, detail: str, retry_after: int) -> HttpResponse:
    response: HttpResponse
    message = f"{detail} Try again in {retry_after} seconds."
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response
