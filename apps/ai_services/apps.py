"""App config for ``apps.ai_services``:

Suggestions, natural-language entries and insights (tenant schema).
"""

from django.apps import AppConfig


class AiServicesConfig(AppConfig):
    name = "apps.ai_services"
    label = "ai_services"
    verbose_name = "AI services"
    default_auto_field = "django.db.models.BigAutoField"
