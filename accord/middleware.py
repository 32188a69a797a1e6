from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse


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
