"""The organization's rounding rule as a SQL expression over one entry.

Rounding is applied **per entry**, the way Toggl Track and Clockify do it:
each entry's duration is rounded to the step, then the rounded durations are
summed. Rounding the total instead would make a report's groups not add up to
its total and would let the same entry count differently depending on how the
report is grouped. The stored ``duration_seconds`` is never changed.

The expression uses integer arithmetic on the ``bigint`` column, so it is
exact (no floating point) and cheap enough to evaluate on millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apps.organizations.constants import ROUNDING_MINUTES, RoundingMode

if TYPE_CHECKING:
    from apps.organizations.models import Organization


@dataclass(frozen=True)
class Rounding:
    """A rounding rule: ``mode`` (none/up/down/nearest) to ``minutes``."""

    mode: str = RoundingMode.NONE
    minutes: int = 1

    @classmethod
    def for_organization(cls, organization: Organization) -> Rounding:
        mode = getattr(organization, "rounding_mode", RoundingMode.NONE) or RoundingMode.NONE
        minutes = int(getattr(organization, "rounding_minutes", 1) or 1)
        return cls(mode=mode, minutes=minutes)

    def __post_init__(self) -> None:
        # Both values end up as literals in SQL: only known values pass.
        if self.mode not in RoundingMode.values:
            raise ValueError(f"Unknown rounding mode {self.mode!r}.")
        if self.minutes not in ROUNDING_MINUTES:
            raise ValueError(f"Unsupported rounding step {self.minutes!r}.")

    def seconds_sql(self, column: str) -> str:
        """SQL for the rounded duration of ``column`` (a bigint of seconds)."""
        if self.mode == RoundingMode.NONE:
            return column
        step = self.minutes * 60
        if self.mode == RoundingMode.UP:
            return f"((({column}) + {step - 1}) / {step} * {step})"
        if self.mode == RoundingMode.DOWN:
            return f"(({column}) / {step} * {step})"
        # nearest: a half step rounds up (every step is an even number of seconds)
        return f"((({column}) + {step // 2}) / {step} * {step})"

    def amount_sql(self, *, seconds_column: str, rate_column: str, amount_column: str) -> str:
        """SQL for the entry's amount under this rule.

        Without rounding the snapshotted ``amount`` is used as stored, so a
        report matches the entries exactly. With rounding the amount follows
        the rounded duration at the snapshotted rate (what Toggl and Clockify
        bill), rounded to cents per entry.
        """
        if self.mode == RoundingMode.NONE:
            return f"COALESCE({amount_column}, 0)"
        rounded = self.seconds_sql(seconds_column)
        return f"COALESCE(ROUND({rate_column} * ({rounded})::numeric / 3600, 2), 0)"

    def apply(self, seconds: int) -> int:
        """The same rule in Python, for values already in memory (tests, docs)."""
        if self.mode == RoundingMode.NONE:
            return seconds
        step = self.minutes * 60
        if self.mode == RoundingMode.UP:
            return (seconds + step - 1) // step * step
        if self.mode == RoundingMode.DOWN:
            return seconds // step * step
        return (seconds + step // 2) // step * step
