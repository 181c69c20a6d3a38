"""App config for ``apps.iam``: Users and authentication (public schema)."""

from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "apps.iam"
    label = "iam"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"
