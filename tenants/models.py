"""The template schema snapshot used for fast provisioning (public schema)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class TemplateSnapshot(models.Model):
    """DDL (and bookkeeping rows) of the template schema, with the schema name
    replaced by a placeholder.

    Replaying it creates a new tenant schema in one transaction, an order of
    magnitude faster than running every migration. ``fingerprint`` identifies
    the migration state it was taken at; a snapshot whose fingerprint is not
    the code's current one is never used (provisioning then refreshes it or
    falls back to migrations).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    fingerprint = models.CharField(max_length=64, db_index=True)
    template_schema = models.CharField(max_length=63)
    sql = models.TextField()
    pg_dump_version = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.template_schema}@{self.fingerprint[:12]} ({self.created_at:%Y-%m-%d %H:%M})"
