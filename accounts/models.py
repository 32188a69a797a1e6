from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Accord's user. There is no self-signup: users are created by an admin or
    through a lead's invite."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class ApiToken(models.Model):
    """An API token. Only its sha256 digest is stored; the key is shown once.

    ``password_fingerprint`` binds the token to the password it was issued
    under, so any password change (UI, admin, manage.py) revokes it without a
    signal or a hook on every path that can change a password.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    name = models.CharField(max_length=100, blank=True)
    password_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
