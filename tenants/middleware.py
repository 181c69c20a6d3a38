"""HTTP tenant resolution: ``<slug>.<base>`` → tenant schema + tenant URLconf.

Replaces django-tenants' ``TenantMainMiddleware`` because NovaTime needs three
things it does not do: a cached lookup (zero queries on a warm request), JSON
errors for unknown hosts, and a read-only mode for suspended organizations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import set_urlconf
from django.utils.module_loading import import_string

from .db import tenant_connection
from .resolution import resolve_tenant

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _read_only_refusal(tenant: object) -> tuple[str, str]:
    """Code and message of the 402 for a write on a read-only tenant.

    Billing can say the suspension is its own (``subscription_inactive``)
    through the ``read_only_reason`` hook in ``NOVATIME_TENANT_HOOKS`` (tenants/
    never imports apps/). It costs one query, only on a refused write.
    """
    hook = getattr(settings, "NOVATIME_TENANT_HOOKS", {}).get("read_only_reason")
    reason = import_string(hook)(tenant) if hook else None
    return reason or (
        "organization_inactive",
        "This organization is suspended or cancelled: it is read-only "
        "until its billing is settled.",
    )


def public_hostnames() -> frozenset[str]:
    base = settings.NOVATIME_BASE_DOMAIN
    return frozenset({base, f"www.{base}"})


class TenantResolutionMiddleware:
    """Select the schema and URLconf for the request's host.

    - ``<base>`` / ``www.<base>``: public schema, public URLconf, no ``request.tenant``
      (absent means public, as django-tenants' own template tags expect);
    - a known serving tenant: its schema (``search_path = t_x, public``), tenant URLconf;
    - anything else: 404 ``tenant_not_found``;
    - a suspended/cancelled tenant: reads pass, writes get 402 ``organization_inactive``
      except on the paths that let an owner pay (``NOVATIME_READ_ONLY_ALLOWED_PATHS``).

    The tenant model provides ``is_serving`` and ``is_read_only`` (the business
    rules of which statuses mean what live with the model, not here).

    The connection is put back on the public schema after the response, so the
    next user of a persistent connection never inherits this tenant.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant_connection().set_schema_to_public()
        try:
            hostname = request.get_host().rsplit(":", 1)[0].lower().rstrip(".")
        except DisallowedHost:
            return _error(400, "host_not_allowed", "This host name is not served here.")

        if hostname in public_hostnames():
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
            return self.get_response(request)

        tenant = resolve_tenant(hostname)
        if tenant is None or not tenant.is_serving:
            return _error(404, "tenant_not_found", f"No organization at {hostname}.")
        if tenant.is_read_only and request.method not in SAFE_METHODS:
            allowed = getattr(settings, "NOVATIME_READ_ONLY_ALLOWED_PATHS", ())
            if not request.path_info.startswith(tuple(allowed)):
                return _error(402, *_read_only_refusal(tenant))

        tenant.domain_url = hostname
        # django-tenants' own attribute, read back through tenants.db.request_tenant();
        # HttpRequest's stubs cannot know it.
        request.tenant = tenant  # type: ignore[attr-defined]
        tenant_connection().set_tenant(tenant)
        request.urlconf = settings.ROOT_URLCONF
        set_urlconf(None)
        try:
            return self.get_response(request)
        finally:
            tenant_connection().set_schema_to_public()
