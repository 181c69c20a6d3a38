from django.apps import AppConfig


class ScaleNoopConfig(AppConfig):
    name = "bench.scale_noop"
    label = "scale_noop"
    default_auto_field = "django.db.models.BigAutoField"
