"""Host name → tenant resolution, cached.

A warm request resolves its tenant from the cache (Redis in every environment)
without a database query. The cache entry of a host is dropped whenever its
domain row or its tenant row changes, so a suspended organization or a moved
subdomain takes effect on the next request, on every web process. Unknown host
names are cached briefly too (a negative entry), so a flood of random
subdomains cannot turn into a flood of queries; creating a domain drops that
entry at once. While Redis is unreachable the cache misses and drops writes
(config.resilience.ResilientRedisCache, every settings module's backend), so
each request resolves from the database: slower, still correct, never a 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django_tenants.utils import get_tenant_domain_model, get_tenant_model

if TYPE_CHECKING:
    from apps.organizations.models import Domain, Organization

logger = logging.getLogger(__name__)

_MISSING = "__missing__"
NEGATIVE_TTL_SECONDS = 30


def cache_key(hostname: str) -> str:
    return f"tenant-host:v1:{hostname.lower()}"


def resolve_tenant(hostname: str) -> Organization | None:
    """The tenant that owns ``hostname`` (any status), or ``None``."""
    key = cache_key(hostname)
    cached = cache.get(key)
    if cached == _MISSING:
        return None
    if cached is not None:
        return cached
    domain = (
        get_tenant_domain_model()
        .objects.select_related("tenant")
        .filter(domain=hostname.lower())
        .first()
    )
    if domain is None:
        cache.set(key, _MISSING, NEGATIVE_TTL_SECONDS)
        return None
    tenant = domain.tenant
    cache.set(key, tenant, settings.NOVATIME_TENANT_CACHE_TTL)
    return tenant


def invalidate_hosts(*hostnames: str) -> None:
    """Drop cached entries now and again when the transaction commits.

    The second delete closes the window in which a concurrent request reads
    the old row (not yet committed over) and caches it again.
    """
    keys = [cache_key(h) for h in hostnames if h]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
    logger.debug("tenant cache invalidated for %s", ", ".join(hostnames))


def invalidate_tenant(tenant: Organization) -> None:
    """Drop the cached entries of every host of ``tenant``.

    Model signals fire on ``save()``/``delete()`` only: code that changes
    tenants with ``QuerySet.update()`` must call this itself.
    """
    invalidate_hosts(*tenant.domains.values_list("domain", flat=True))


def _domain_pre_save(sender: type[Domain], instance: Any, **kwargs: object) -> None:
    # Remember the old host name so that renaming a domain drops its old entry.
    if instance.pk and not instance._state.adding:
        instance._previous_domain = (
            sender.objects.filter(pk=instance.pk).values_list("domain", flat=True).first()
        )


def _domain_changed(sender: type[Domain], instance: Domain, **kwargs: object) -> None:
    invalidate_hosts(instance.domain, getattr(instance, "_previous_domain", None) or "")


def _tenant_changed(sender: type[Organization], instance: Organization, **kwargs: object) -> None:
    if instance.pk:
        invalidate_tenant(instance)


def connect_invalidation() -> None:
    domain_model = get_tenant_domain_model()
    tenant_model = get_tenant_model()
    uid = "tenants.resolution"
    pre_save.connect(_domain_pre_save, sender=domain_model, dispatch_uid=f"{uid}.d_pre")
    post_save.connect(_domain_changed, sender=domain_model, dispatch_uid=f"{uid}.d_save")
    post_delete.connect(_domain_changed, sender=domain_model, dispatch_uid=f"{uid}.d_delete")
    post_save.connect(_tenant_changed, sender=tenant_model, dispatch_uid=f"{uid}.t_save")
