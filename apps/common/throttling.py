"""DRF throttles that count per client address with ``config.client_ip``.

DRF's own ``get_ident`` believes ``X-Forwarded-For`` from anyone (with
``NUM_PROXIES`` unset it even uses the whole header as the key), so a client
could pick a fresh address for every request. These classes are DRF's with
one change: the address is :func:`config.client_ip.client_ip_key`, which
believes forwarding headers only from ``NOVATIME_TRUSTED_PROXIES`` and counts
an IPv6 client by its /64 (a host has the whole /64 to pick from). Every settings
module names them in ``DEFAULT_THROTTLE_CLASSES``; a view that sets
``throttle_classes`` itself must use these too (tests/test_client_ip.py walks
every view).
"""

from __future__ import annotations

from typing import Any

from rest_framework import throttling

from config.client_ip import client_ip_key


class ClientIpMixin:
    """``get_ident`` from the one client-address function (IPv6: per /64)."""

    def get_ident(self, request: Any) -> str:
        return client_ip_key(request)


class AnonRateThrottle(ClientIpMixin, throttling.AnonRateThrottle):
    """Per client address, anonymous requests only (scope ``anon``)."""


class UserRateThrottle(ClientIpMixin, throttling.UserRateThrottle):
    """Per user; per client address for anonymous requests (scope ``user``)."""


class ScopedRateThrottle(ClientIpMixin, throttling.ScopedRateThrottle):
    """Per view ``throttle_scope`` (login, signup, …): per user, or per
    client address for anonymous requests."""
