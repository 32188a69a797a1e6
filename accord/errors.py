"""Errors that services raise and both the API and the pages translate."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class InvalidInput(ValueError):
    """Bad input, with one {field, reason} per problem. Answered with 400."""

    def __init__(self, errors: list[dict[str, str]] | str, field: str | None = None):
        if isinstance(errors, str):
            errors = [{"field": field, "reason": errors}]
        self.errors = errors
        super().__init__(str(self))

    def __str__(self) -> str:
        return "; ".join(
            f"{e['field']}: {e['reason']}" if e.get("field") else e["reason"] for e in self.errors
        )


class Conflict(Exception):
    """The request clashes with the current state. Answered with 409."""

    def __init__(self, detail: str, **extra):
        self.detail = detail
        self.extra = extra
        super().__init__(detail)


class ServiceUnavailable(Exception):
    """A service the request cannot do without (Redis, for the login
    throttle) is down. Answered with 503 and Retry-After, never 500."""

    def __init__(self, detail: str, retry_after: int = 5):
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)


class ProjectArchived(PermissionDenied):
    """A write on an archived project. Answered with 409 (the API) or the
    read-only page (projects/pages.py)."""
