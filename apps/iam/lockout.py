"""Login lockout: repeated failures lock an account (and an address) for a while.

Counts every failed ``authenticate()`` — API login, admin login — through
Django's ``user_login_failed`` signal, in the shared cache (Redis), so all web
processes agree. While locked, ``LockoutBackend`` refuses to authenticate even
the right password, and the API login answers 429 ``login_locked`` with the
seconds to wait. A successful login clears the account's counter.

Written here rather than with django-axes because axes' lockout signalling does
not reach DRF views (its middleware reads an attribute set on the Django
request, which DRF wraps), so API clients would only ever see a plain 400.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest

from apps.common.prepared import PreparedQuery
from config.client_ip import client_ip_key

if TYPE_CHECKING:
    from .models import User


def _limits() -> tuple[int, int, int]:
    cfg = settings.NOVATIME_LOGIN_LOCKOUT
    return cfg["ACCOUNT_FAILURES"], cfg["IP_FAILURES"], cfg["SECONDS"]


def _client_ip(request: HttpRequest | None) -> str:
    """The per-address key: ``config.client_ip.client_ip_key`` (a spoofed
    X-Forwarded-For from an untrusted peer counts against the peer, not a
    made-up address; an IPv6 client counts by its /64, which it could
    otherwise walk through for a fresh counter per address)."""
    if request is None or not hasattr(request, "META"):
        return ""
    return client_ip_key(request)


def _keys(email: str, ip: str) -> list[tuple[str, int]]:
    account_limit, ip_limit, _ = _limits()
    keys = []
    if email:
        # The address is whatever the client typed: hashed, so no length or
        # character of it can make a cache key that a backend refuses or warns on.
        account = hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
        keys.append((f"login-fail:acct:{account}", account_limit))
    if ip:
        keys.append((f"login-fail:ip:{ip}", ip_limit))
    return keys


def locked_for(*, email: str, request: HttpRequest | None = None) -> int:
    """Seconds until ``email``/the request's address may try again (0: not locked)."""
    now = time.time()
    waits = []
    for key, limit in _keys(email, _client_ip(request)):
        entry = cache.get(key)
        if entry and entry["count"] >= limit:
            waits.append(max(1, int(entry["until"] - now)))
    return max(waits, default=0)


def record_failure(*, email: str, request: HttpRequest | None = None) -> None:
    _, _, seconds = _limits()
    until = time.time() + seconds
    for key, _limit in _keys(email, _client_ip(request)):
        entry = cache.get(key) or {"count": 0}
        cache.set(key, {"count": entry["count"] + 1, "until": until}, seconds)


def clear(*, email: str) -> None:
    for key, _limit in _keys(email, ""):
        cache.delete(key)


@receiver(user_login_failed, dispatch_uid="iam.lockout.failed")
def _on_login_failed(
    sender: object,
    credentials: dict[str, str],
    request: HttpRequest | None = None,
    **kw: object,
) -> None:
    email = credentials.get("email") or credentials.get("username") or ""
    record_failure(email=email, request=request)


@receiver(user_logged_in, dispatch_uid="iam.lockout.success")
def _on_login(sender: object, request: HttpRequest | None, user: User, **kw: object) -> None:
    clear(email=user.email)


#: Built on first use: this module is imported before the models are ready.
_USER_BY_PK: PreparedQuery[User] = PreparedQuery(
    lambda _shape, pk: get_user_model()._default_manager.filter(pk=pk), pk=uuid.UUID
)


class LockoutBackend(ModelBackend):
    """Model backend that refuses to authenticate a locked account or address."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = username or kwargs.get("email") or ""
        if locked_for(email=email, request=request):
            raise PermissionDenied("locked")  # stops authenticate(); counted as a failure
        return super().authenticate(request, username=email, password=password, **kwargs)

    def get_user(self, user_id: Any) -> User | None:
        """The session's user, on every request with a session: a query
        compiled once (apps/common/prepared.py) instead of on each request;
        otherwise ``ModelBackend.get_user`` (an inactive user is none)."""
        try:
            found = _USER_BY_PK.run(pk=user_id)
        except ValueError:  # not a UUID: no such user
            return None
        user = found[0] if found else None
        return user if user is not None and self.user_can_authenticate(user) else None
