"""Assertion helpers shared by the API tests of every app."""

from __future__ import annotations

from typing import Any

#: ``(role, status, code)`` for a write that needs manager or above:
#: ``None`` = anonymous, ``"outsider"`` = authenticated non-member; a ``None``
#: status means the write is allowed.
MANAGER_WRITE_MATRIX: list[tuple[str | None, int | None, str | None]] = [
    (None, 401, "not_authenticated"),
    ("outsider", 403, "not_a_member"),
    ("viewer", 403, "role_required"),
    ("member", 403, "role_required"),
] + [(role, None, None) for role in ("manager", "admin", "owner")]


def expect(response: Any, status: int, code: str | None = None) -> Any:
    """Assert the status (and the error ``code``); return the JSON body, if any."""
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    return response.json() if response.content else None


def clear_test_cache() -> None:
    """Delete this test run's cache keys only.

    ``cache.clear()`` is FLUSHDB on the shared Redis database: it would wipe
    other processes' socket tickets, channel groups and Celery queues.
    """
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        raise TypeError(f"clear_test_cache() needs the Redis cache, not {type(cache).__name__}")
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=500))
    if keys:
        client.delete(*keys)


def app_queries(captured: Any) -> list[dict[str, Any]]:
    """The statements of a ``CaptureQueriesContext`` other than ``SET
    search_path``: whether a request sends that one depends on the path the
    session held before (tenants/db_backend), not on the code under
    test, so a query count that must compare two requests leaves it out."""
    return [q for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]


# --- two-factor (django-otp) ---------------------------------------------------------


def next_totp_code(device: Any) -> str:
    """The code an authenticator app shows for ``device`` (a ``TOTPDevice``),
    at the earliest time step the device still accepts.

    That is the current step, or the one after the last accepted step (within
    the device's tolerance): django-otp refuses a step at or before the last
    one it accepted, so consecutive calls never replay a code.
    """
    from django_otp.oath import TOTP, hotp

    device.refresh_from_db()
    now_t = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).t()
    t = max(now_t, device.last_t + 1)
    assert t <= now_t + device.tolerance, "used more codes than the tolerance allows"
    return f"{hotp(device.bin_key, t, digits=device.digits):0{device.digits}d}"


def wrong_totp_code(device: Any) -> str:
    """A well-formed code that no time step near now accepts for ``device``."""
    from django_otp.oath import TOTP, hotp

    device.refresh_from_db()
    now_t = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).t()
    window = range(now_t - device.tolerance - 1, now_t + device.tolerance + 2)
    valid = {f"{hotp(device.bin_key, t, digits=device.digits):0{device.digits}d}" for t in window}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def totp_device(user: Any) -> Any:
    """``user``'s confirmed TOTP device, created (as ``two_factor_confirm``
    would leave it) when the user has none."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.iam.two_factor import TOTP_DEVICE_NAME

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    return device


def otp_force_login(client: Any, user: Any, device: Any = None) -> Any:
    """``client.force_login(user)`` with the session verified by a second factor.

    What the admin console requires of staff (``NOVATIME_ADMIN_REQUIRE_OTP``,
    apps/iam/admin_site.py): django-otp's middleware reads the verifying
    device's ``persistent_id`` from the session and keeps it only when the
    device is confirmed and belongs to the signed-in user. ``device`` defaults
    to the user's TOTP device (``totp_device``); returns the device used.
    Works with Django's ``Client``/``AsyncClient`` and DRF's test clients.
    """
    from django_otp import DEVICE_ID_SESSION_KEY

    device = device if device is not None else totp_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
