"""App config for ``apps.common``:

Shared building blocks: base models, API errors, pagination, health checks.
"""

from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"
    verbose_name = "Common"
    default_auto_field = "django.db.models.BigAutoField"
