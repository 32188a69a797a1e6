from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout


def start_session_clock(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SessionTimeoutMiddleware.key] = int(time.time())


class SessionTimeoutMiddleware:
    """Absolute session lifetime on top of Django's idle timeout (SECURITY.md D7)."""

    key = "accord_login_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            started = request.session.get(self.key)
            now = int(time.time())
            if started is None:
                request.session[self.key] = now
            elif now - int(started) > settings.ACCORD_SESSION_ABSOLUTE_SECONDS:
                logout(request)
        return self.get_response(request)
