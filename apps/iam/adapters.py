"""django-allauth's account adapter, with the one client-address function.

allauth keys its rate limits (password reset, confirmation emails) on the
client address, which it reads itself (``ALLAUTH_TRUSTED_PROXY_COUNT`` /
``ALLAUTH_TRUSTED_CLIENT_IP_HEADER``). Here it is ``config.client_ip``'s, so
that every per-address limit believes the same proxies
(``NOVATIME_TRUSTED_PROXIES``) and nothing else. The exact address is
returned (allauth also puts it in notification emails); allauth's rate limits
truncate an IPv6 one to its /64 themselves (``ALLAUTH_RATE_LIMIT_IPV6_PREFIX``,
64 by default, the prefix of ``config.client_ip.client_ip_key``;
tests/test_client_ip.py checks they agree).
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from config.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """allauth's default adapter; the client address from ``config.client_ip``."""

    def get_client_ip(self, request: HttpRequest) -> str:
        address = client_ip(request)
        if not address:  # as allauth's own: no address, no rate-limited action
            raise PermissionDenied("Unable to determine client IP address")
        return address
