"""Platform admin console: template snapshots (read-only).

Snapshots are taken by provisioning (``manage.py tenants snapshot``,
``tenants migrate``); an edited snapshot would be replayed into every new
tenant, so the admin only shows them. The SQL itself can be megabytes: the
list never loads it, the detail page shows its length only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest

from .models import TemplateSnapshot

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _SizeAnnotation(TypedDict):
    sql_chars: int


@admin.register(TemplateSnapshot)
class TemplateSnapshotAdmin(admin.ModelAdmin):
    """Which template DDL snapshot provisioning replays, and from when."""

    list_display = ("fingerprint", "template_schema", "created_at", "pg_dump_version", "sql_size")
    list_filter = ("template_schema",)
    search_fields = ("fingerprint", "template_schema")
    fields = ("id", "fingerprint", "template_schema", "pg_dump_version", "created_at", "sql_size")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[TemplateSnapshot]:
        return super().get_queryset(request).defer("sql").annotate(sql_chars=Length("sql"))

    @admin.display(description="SQL size", ordering="sql_chars")
    def sql_size(self, snapshot: WithAnnotations[TemplateSnapshot, _SizeAnnotation]) -> str:
        return f"{snapshot.sql_chars:,} characters"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: TemplateSnapshot | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: TemplateSnapshot | None = None
    ) -> bool:
        return False
