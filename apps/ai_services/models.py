"""Models of ``apps.ai_services`` (tenant schema).

Everything here lives in the organization's own schema, so a trained model,
a rule or a run log can never be read from another organization: the rows are
simply not in its ``search_path``. The model blob is additionally signed with
the schema name (see :mod:`apps.ai_services.suggestions`), so a blob copied
into another schema by hand is refused instead of served.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from apps.common.models import SoftDeleteModel

from .constants import RuleKind, RunStatus


class SuggestionModel(models.Model):
    """One trained version of this organization's suggestion model.

    ``version`` only grows; the newest row serves. The in-process cache is
    keyed by (schema, version), so a retrain is picked up by every worker on
    its next request without any invalidation message.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.PositiveIntegerField(unique=True)
    trained_at = models.DateTimeField(default=timezone.now)
    entry_count = models.PositiveIntegerField(help_text="Entries the model learned from.")
    newest_entry_at = models.DateTimeField(
        null=True, blank=True, help_text="created_at of the newest entry it learned from."
    )
    algorithm = models.CharField(max_length=40)
    blob = models.BinaryField(help_text="Signed pickle of the fitted model.")
    signature = models.CharField(max_length=64, help_text="HMAC-SHA256(schema, blob).")
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"suggestion model v{self.version} ({self.entry_count} entries)"


class AutomationRule(SoftDeleteModel):
    """An organization's automation: what to do (``kind`` + ``params``) and
    whether it is on. Params are validated per kind by the API serializer
    and again by the runner (a rule edited in the admin cannot crash a run)."""

    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=40, choices=RuleKind.choices)
    enabled = models.BooleanField(default=True)
    params = models.JSONField(default=dict, blank=True)
    created_by_id = models.UUIDField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    cursor = models.UUIDField(
        null=True,
        blank=True,
        help_text="Primary key of the last object the previous run reached; the next run "
        "continues after it and wraps round (runners whose objects can be refused).",
    )

    class Meta:
        ordering = ["kind", "created_at"]
        indexes = [models.Index(fields=["enabled", "kind"])]

    def __str__(self) -> str:
        return self.name or self.get_kind_display()


class RuleRun(models.Model):
    """The log of one execution of one rule (kept for audits; never edited)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices)
    affected_count = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["rule", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.rule_id} at {self.started_at.isoformat()}: {self.status}"


class MissingDayReminder(models.Model):
    """A reminder already sent for (user, day): reminders are sent once, however
    often the rule runs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField()
    day = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["user_id", "day"], name="ai_reminder_once_per_day")
        ]

    def __str__(self) -> str:
        return f"reminder {self.user_id} {self.day}"
