"""App config for ``apps.time_entries``:

Timers, manual entries, rates and reports (tenant schema).
"""

from django.apps import AppConfig


class TimeEntriesConfig(AppConfig):
    name = "apps.time_entries"
    label = "time_entries"
    verbose_name = "Time entries"
    default_auto_field = "django.db.models.BigAutoField"
