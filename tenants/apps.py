"""Tenancy infrastructure: resolution, provisioning, CLI. No business rules.

This package never imports from ``apps/``: it reaches the tenant and domain
models through django-tenants' ``get_tenant_model()`` and
``get_tenant_domain_model()``.
"""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    label = "tenants"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import resolution

        resolution.connect_invalidation()
