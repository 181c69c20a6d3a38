"""Typed access to the tenant state django-tenants keeps on the connection
and on the request.

django-tenants adds ``tenant``, ``schema_name`` and ``set_tenant()`` to its
own database wrapper and ``tenant`` to each request at run time; the stubs
only know Django's ``BaseDatabaseWrapper`` and ``HttpRequest``. Rather than
silence mypy at each of the many call sites, code reads that state through
these helpers, which name the real types once. They are plain attribute
reads, so they cost nothing on hot paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from django.db import connection
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from rest_framework.request import Request

    from apps.organizations.models import Organization


class TenantConnection(Protocol):
    """The part of django-tenants' ``DatabaseWrapper`` NovaTime uses."""

    schema_name: str
    tenant: Organization
    search_path_set_schemas: list[str] | None

    def set_tenant(self, tenant: Organization, include_public: bool = True) -> None: ...

    def set_schema(
        self, schema_name: str, include_public: bool = True, tenant_type: str | None = None
    ) -> None: ...

    def set_schema_to_public(self) -> None: ...


def tenant_connection(conn: BaseDatabaseWrapper | None = None) -> TenantConnection:
    """The default connection (or ``conn``) as django-tenants' wrapper."""
    return cast(TenantConnection, connection if conn is None else conn)


def current_schema() -> str:
    """The schema the default connection is set to now."""
    return tenant_connection().schema_name


def current_tenant() -> Organization:
    """The organization the default connection is set to now (the public
    schema's placeholder tenant when none is set)."""
    return tenant_connection().tenant


def request_tenant(request: HttpRequest | Request) -> Organization | None:
    """The organization the tenant middleware resolved for ``request`` (a
    Django or DRF request), or None on hosts that serve no tenant."""
    django_request = getattr(request, "_request", request)
    return cast("Organization | None", getattr(django_request, "tenant", None))
