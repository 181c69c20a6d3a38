"""App config for ``apps.common``:

Shared building blocks: base models, API errors, pagination, health checks.
"""

from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"
    verbose_name = "Common"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Serializer and filter fields built from model date columns use the
        bounded date fields (``apps.common.dates``), like declared ones, so
        no date input escapes the supported calendar window.

        ``ModelSerializer.serializer_field_mapping`` and
        ``FilterSet.FILTER_DEFAULTS`` are the libraries' documented places to
        choose the field for a model field type; they are set once here for
        every serializer and filter set instead of in each subclass."""
        from django.db import models
        from django_filters import rest_framework as filters
        from rest_framework import serializers

        from apps.common import dates

        mapping = serializers.ModelSerializer.serializer_field_mapping
        mapping[models.DateField] = dates.DateField
        mapping[models.DateTimeField] = dates.DateTimeField
        defaults = filters.FilterSet.FILTER_DEFAULTS
        defaults[models.DateField] = {"filter_class": dates.DateFilter}
        defaults[models.DateTimeField] = {"filter_class": dates.DateTimeFilter}
