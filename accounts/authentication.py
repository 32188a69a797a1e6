from __future__ import annotations

from rest_framework import authentication, exceptions

from .tokens import token_verify


class HashedTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>`` against hashed, expiring tokens."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed token header.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed token header.") from exc
        token = token_verify(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return (token.user, token)

    def authenticate_header(self, request):
        return self.keyword


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
except ImportError:  # pragma: no cover - drf-spectacular is a dependency
    OpenApiAuthenticationExtension = None

if OpenApiAuthenticationExtension is not None:

    class HashedTokenScheme(OpenApiAuthenticationExtension):
        target_class = "accounts.authentication.HashedTokenAuthentication"
        name = "tokenAuth"

        def get_security_definition(self, auto_schema):
            return {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": 'Token from POST /api/v1/auth/token/, sent as "Token <key>".',
            }
