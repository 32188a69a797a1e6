from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .authentication import HashedTokenAuthentication
from .models import ApiToken
from .throttle import client_ip, login_attempt, login_succeeded
from .tokens import token_issue, token_revoke


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    prefix = serializers.CharField()
    expires_at = serializers.DateTimeField()


class TokenView(APIView):
    """Exchange a username and password for an expiring API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenRequestSerializer, responses={201: TokenSerializer})
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        verdict = login_attempt(username=username, ip=client_ip(request))
        if not verdict.allowed:
            return Response(
                {"detail": "Too many attempts; try again later."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(verdict.retry_after)},
            )
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            # One answer for an unknown user and a wrong password: no enumeration.
            return Response({"detail": "Invalid username or password."}, status=400)
        login_succeeded(username=username)
        key, token = token_issue(user=user, name=data.validated_data.get("name", ""))
        body = {"token": key, "prefix": token.prefix, "expires_at": token.expires_at}
        return Response(TokenSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        """Revoke the token this request is authenticated with."""
        try:
            result = HashedTokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            result = None
        if result is None:
            # 401 like every other unauthenticated API call; DRF would answer a
            # failed token with 403 here, as this view has no auth classes.
            return Response(
                {"detail": "Authenticate with the token to revoke."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": HashedTokenAuthentication.keyword},
            )
        token_revoke(token=result[1])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "Me", {"id": serializers.IntegerField(), "username": serializers.CharField()}
        )
    )
    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.get_username()})


__all__ = ["TokenView", "MeView", "ApiToken"]
