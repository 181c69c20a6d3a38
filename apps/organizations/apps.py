"""App config for ``apps.organizations``:

Organizations (the tenant model), domains and memberships (public schema).
"""

from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "apps.organizations"
    label = "organizations"
    verbose_name = "Organizations"
    default_auto_field = "django.db.models.BigAutoField"
