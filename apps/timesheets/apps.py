"""App config for ``apps.timesheets``: Periods, submission and approvals (tenant schema)."""

from django.apps import AppConfig


class TimesheetsConfig(AppConfig):
    name = "apps.timesheets"
    label = "timesheets"
    verbose_name = "Timesheets"
    default_auto_field = "django.db.models.BigAutoField"
