"""Time entries and idle periods (tenant schema).

Invariants held by PostgreSQL itself, so that no code path (API, import,
concurrent requests) can break them:

* at most one running timer per user: a partial unique index on ``user_id``
  where ``ended_at IS NULL``;
* no two live entries of one user overlap: an exclusion constraint on
  ``(user_id WITH =, tstzrange(started_at, coalesce(ended_at, 'infinity')) WITH &&)``
  (btree_gist). Organizations that allow overlaps write entries with
  ``overlap_allowed = true``, which the constraint's condition exempts; rows
  written while overlaps were allowed stay exempt if the setting is turned off.

Users are referred to by ``user_id`` (public schema; see apps/projects/models.py).
"""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Cast, Coalesce

from apps.common.models import SoftDeleteModel, TimestampedModel
from apps.projects.models import Project
from apps.tasks.models import Task
from apps.timesheets.models import Timesheet

from .constants import EntrySource, IdleResolution


class TsTzRange(models.Func):
    """``tstzrange(lower, upper, '[)')`` for the overlap constraint."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def entry_span() -> TsTzRange:
    """The entry's time range; a running entry extends to infinity."""
    return TsTzRange(
        "started_at",
        Coalesce("ended_at", Cast(models.Value("infinity"), models.DateTimeField())),
        models.Value("[)"),
    )


class TimeEntry(SoftDeleteModel):
    """A span of a user's work on a project (and optionally a task).

    ``ended_at`` is null while the timer runs. ``hourly_rate`` and ``amount``
    are snapshots taken when the entry is written (and recomputed by the rate
    task while the entry is not locked), so reports never depend on today's
    rates. ``duration_seconds`` is the raw duration; rounding is applied only
    in reports and exports.
    """

    user_id = models.UUIDField()
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="time_entries")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.PROTECT, related_name="time_entries"
    )
    description = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="ended_at - started_at in whole seconds; null while running.",
    )
    billable = models.BooleanField(default=True)
    tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    source = models.CharField(
        max_length=20, choices=EntrySource.choices, default=EntrySource.MANUAL
    )
    hourly_rate = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    timesheet = models.ForeignKey(
        Timesheet, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    last_activity_at = models.DateTimeField(
        null=True, blank=True, help_text="Last user input reported by a heartbeat."
    )
    overlap_allowed = models.BooleanField(
        default=False, help_text="Written while the organization allowed overlaps."
    )
    external_id = models.CharField(
        max_length=100, blank=True, help_text="Id in the system it was imported from."
    )

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "time entries"
        indexes = [
            models.Index(fields=["user_id", "-started_at"], name="time_entry_user_started"),
            models.Index(fields=["project", "started_at"], name="time_entry_project_started"),
            models.Index(fields=["started_at"], name="time_entry_started"),
            GinIndex(fields=["tags"], name="time_entry_tags"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id"],
                condition=models.Q(ended_at__isnull=True, deleted_at__isnull=True),
                name="time_entries_one_running_timer",
            ),
            ExclusionConstraint(
                name="time_entries_no_overlap",
                expressions=[
                    ("user_id", RangeOperators.EQUAL),
                    (entry_span(), RangeOperators.OVERLAPS),
                ],
                condition=models.Q(deleted_at__isnull=True, overlap_allowed=False),
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="time_entries_end_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True, duration_seconds__isnull=True)
                | models.Q(ended_at__isnull=False, duration_seconds__gte=0),
                name="time_entries_duration_matches",
            ),
            models.CheckConstraint(
                condition=models.Q(hourly_rate__isnull=True) | models.Q(hourly_rate__gte=0),
                name="time_entries_rate_positive",
            ),
        ]

    def __str__(self) -> str:
        end = self.ended_at.isoformat() if self.ended_at else "running"
        return f"{self.user_id} {self.started_at.isoformat()}..{end}"

    @property
    def is_running(self) -> bool:
        return self.ended_at is None


class IdlePeriod(TimestampedModel):
    """A gap without user input during a running timer, awaiting the user's decision."""

    entry = models.ForeignKey(TimeEntry, on_delete=models.CASCADE, related_name="idle_periods")
    user_id = models.UUIDField(db_index=True)
    started_at = models.DateTimeField(help_text="Last input before the gap.")
    ended_at = models.DateTimeField(help_text="First input after the gap.")
    resolution = models.CharField(
        max_length=30, choices=IdleResolution.choices, default=IdleResolution.PENDING
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__gt=models.F("started_at")),
                name="time_entries_idle_ordered",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"idle {self.started_at.isoformat()}..{self.ended_at.isoformat()} ({self.resolution})"
        )
