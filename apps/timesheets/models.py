"""Timesheets and their audit trail (tenant schema).

One sheet per user and period. The period boundaries are dates in the
organization's timezone (see :mod:`apps.timesheets.periods`). While a sheet
is submitted or approved, the time entries of its user and period are
read-only: :func:`apps.time_entries.locking.locking_timesheet` is the single
check every entry write path calls, under the per-user time lock
(:func:`apps.time_entries.locking.user_time_lock`) that approvals take too.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeOperators
from django.db import models
from django.utils import timezone

from apps.common.models import TimestampedModel

from .constants import TimesheetStatus


class DateRange(models.Func):
    """``daterange(lower, upper, '[]')`` for the no-overlap constraint."""

    function = "DATERANGE"
    output_field = DateRangeField()


class Timesheet(TimestampedModel):
    """A user's time for one period, moving draft → submitted → approved|rejected."""

    user_id = models.UUIDField(db_index=True)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive last day of the period.")
    status = models.CharField(
        max_length=20, choices=TimesheetStatus.choices, default=TimesheetStatus.DRAFT
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_id = models.UUIDField(null=True, blank=True)
    # Snapshot written at approval so approved totals cannot drift.
    approved_total_seconds = models.BigIntegerField(null=True, blank=True)
    approved_billable_seconds = models.BigIntegerField(null=True, blank=True)
    approved_billable_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The approved billable amount when it is in one currency; null when mixed.",
    )
    approved_billable_amounts = models.JSONField(
        null=True,
        blank=True,
        help_text='Approved billable amounts per currency: [{"currency", "amount"}], '
        "amounts as exact decimal strings (apps/time_entries/money.py).",
    )
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "user_id"]
        indexes = [models.Index(fields=["status", "period_start"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "period_start"], name="timesheets_one_per_user_period"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="timesheets_period_ordered",
            ),
            # A day belongs to at most one sheet of a user, even across a
            # change of the organization's period kind (weekly → monthly):
            # otherwise an entry would count in two approvals and two exports.
            ExclusionConstraint(
                name="timesheets_no_overlapping_periods",
                expressions=[
                    ("user_id", RangeOperators.EQUAL),
                    (
                        DateRange("period_start", "period_end", models.Value("[]")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.period_start}..{self.period_end} ({self.status})"


class TimesheetEvent(models.Model):
    """An immutable record of one state transition (the sheet's audit trail)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    timesheet = models.ForeignKey(Timesheet, on_delete=models.CASCADE, related_name="events")
    actor_id = models.UUIDField(null=True, blank=True, help_text="Null for automation.")
    from_status = models.CharField(max_length=20, choices=TimesheetStatus.choices)
    to_status = models.CharField(max_length=20, choices=TimesheetStatus.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["timesheet", "created_at"]

    def __str__(self) -> str:
        return f"{self.timesheet_id}: {self.from_status} → {self.to_status}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise RuntimeError("Timesheet events are immutable.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise RuntimeError("Timesheet events are immutable.")
