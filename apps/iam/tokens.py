"""Issuing, checking and revoking API tokens (see ``AuthToken``)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.utils import timezone
from rest_framework.serializers import BaseSerializer

from .models import AuthToken, User

#: Tokens used within this window are not re-stamped (saves a write per request).
LAST_USED_RESOLUTION_SECONDS = 60


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user: User, name: str = "") -> tuple[AuthToken, str]:
    """Create a token; returns it with its raw key (shown to the client once)."""
    key = secrets.token_urlsafe(32)
    token = AuthToken.objects.create(
        user=user, key_hash=hash_key(key), prefix=key[:8], name=name[:200]
    )
    token.key = key  # transient: never stored
    return token, key


def token_for_key(key: str) -> AuthToken | None:
    token = AuthToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        return None
    token_touch(token)
    return token


def token_touch(token: AuthToken) -> None:
    """Stamp ``last_used_at`` when the last stamp is older than
    ``LAST_USED_RESOLUTION_SECONDS``: at most one write per token a minute."""
    now = timezone.now()
    if (
        token.last_used_at is None
        or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS
    ):
        AuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def tokens_revoke(*, user: User, keep: AuthToken | None = None) -> int:
    """Revoke every token of ``user`` except ``keep``; returns how many."""
    qs = AuthToken.objects.filter(user=user)
    if keep is not None:
        qs = qs.exclude(pk=keep.pk)
    deleted, _ = qs.delete()
    return deleted


def login_token_creator(
    token_model: type[AuthToken], user: User, serializer: BaseSerializer[Any] | None
) -> AuthToken:
    """dj-rest-auth ``TOKEN_CREATOR``: a fresh token for every login."""
    request = serializer.context.get("request") if serializer is not None else None
    agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    token, _ = token_create(user=user, name=agent)
    return token
