"""What a report asks for, and who is asking: one value shared by the summary,
the detailed list and the exports, so they always agree on which entries count.

Rules (documented in apps/time_entries/README.md):

* ``from``/``to`` are calendar dates in the organization's timezone, both
  inclusive. An entry belongs to the local day it **starts** on (as in Toggl
  and Clockify), so an entry crossing local midnight counts, whole, on its
  first day.
* Running timers are excluded (their duration is not known yet); soft-deleted
  entries are excluded.
* A caller without ``entries.view_all`` (members, viewers) only ever sees
  their own time, whatever ``users`` filter they send.
* Amounts follow the one money rule, :func:`apps.time_entries.money.may_view_money`:
  callers with ``rates.view`` (managers and above) see them, others on their
  own time when the organization sets ``members_see_rates``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from django.db.models import Q

from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import may
from apps.time_entries.money import may_view_money
from apps.timesheets.periods import period_range_utc

from .rounding import Rounding

#: Dimensions a summary may be grouped by.
DIMENSIONS = ("project", "client", "user", "task", "tag", "day", "week")
#: The widest range one report may cover (a bound on the work one request does).
MAX_RANGE_DAYS = 3 * 366 + 31


T = TypeVar("T")


@dataclass(frozen=True)
class ReportQuery:
    organization: Organization
    start_date: datetime.date
    end_date: datetime.date
    rounding: Rounding
    show_amounts: bool
    group_by: tuple[str, ...] = ()
    users: tuple[UUID, ...] | None = None
    projects: tuple[UUID, ...] | None = None
    clients: tuple[UUID, ...] | None = None
    tags: tuple[str, ...] | None = None
    billable: bool | None = None

    @property
    def timezone(self) -> str:
        return str(self.organization.timezone)

    @property
    def week_start(self) -> int:
        return int(self.organization.week_start)

    @property
    def currency(self) -> str:
        """The organization's currency: the currency of amounts of projects
        without a client currency (see apps/time_entries/money.py)."""
        return str(self.organization.currency)

    def instant_range(self) -> tuple[datetime.datetime, datetime.datetime]:
        """``[from 00:00, to+1 00:00)`` local, as aware datetimes (DST-exact)."""
        return period_range_utc(self.organization, self.start_date, self.end_date)

    def entry_filter(self, prefix: str = "") -> Q:
        """The ORM filter on ``TimeEntry`` equal to :func:`where_sql`."""
        low, high = self.instant_range()
        p = prefix
        q = Q(
            **{
                f"{p}deleted_at__isnull": True,
                f"{p}ended_at__isnull": False,
                f"{p}started_at__gte": low,
                f"{p}started_at__lt": high,
            }
        )
        if self.users is not None:
            q &= Q(**{f"{p}user_id__in": self.users})
        if self.projects is not None:
            q &= Q(**{f"{p}project_id__in": self.projects})
        if self.clients is not None:
            q &= Q(**{f"{p}project__client_id__in": self.clients})
        if self.tags is not None:
            q &= Q(**{f"{p}tags__overlap": list(self.tags)})
        if self.billable is not None:
            q &= Q(**{f"{p}billable": self.billable})
        return q

    def where_sql(self, entry: str = "te", project: str = "p") -> tuple[str, list[Any]]:
        """SQL ``WHERE`` body over ``time_entries_timeentry AS te`` (and
        ``projects_project AS p`` when filtering by client), with params."""
        low, high = self.instant_range()
        parts = [
            f"{entry}.deleted_at IS NULL",
            f"{entry}.ended_at IS NOT NULL",
            f"{entry}.started_at >= %s",
            f"{entry}.started_at < %s",
        ]
        params: list[Any] = [low, high]
        if self.users is not None:
            parts.append(f"{entry}.user_id = ANY(%s::uuid[])")
            params.append(list(self.users))
        if self.projects is not None:
            parts.append(f"{entry}.project_id = ANY(%s::uuid[])")
            params.append(list(self.projects))
        if self.clients is not None:
            parts.append(f"{project}.client_id = ANY(%s::uuid[])")
            params.append(list(self.clients))
        if self.tags is not None:
            parts.append(f"{entry}.tags && %s::varchar[]")
            params.append(list(self.tags))
        if self.billable is not None:
            parts.append(f"{entry}.billable = %s")
            params.append(self.billable)
        return " AND ".join(parts), params


def build_report_query(
    *, organization: Organization, actor: Membership, params: Mapping[str, Any]
) -> ReportQuery:
    """Apply the caller's visibility to validated ``params`` (see module doc)."""
    sees_all = may(actor, "entries.view_all")
    users = params.get("users")
    if not sees_all:
        # Members see their own time only: any other user filter narrows to nothing.
        own = actor.user_id
        users = (own,) if users is None or own in users else ()
    # Below entries.view_all the report is the caller's own time (``users``
    # is narrowed above); above it, the report may hold anybody's.
    show_amounts = may_view_money(
        actor=actor,
        owner_ids=None if sees_all else users,
        organization=organization,
    )
    return ReportQuery(
        organization=organization,
        start_date=params["start_date"],
        end_date=params["end_date"],
        rounding=Rounding.for_organization(organization),
        show_amounts=show_amounts,
        group_by=tuple(params.get("group_by") or ()),
        users=tuple(users) if users is not None else None,
        projects=_tuple_or_none(params.get("projects")),
        clients=_tuple_or_none(params.get("clients")),
        tags=_tuple_or_none(params.get("tags")),
        billable=params.get("billable"),
    )


def _tuple_or_none(value: Iterable[T] | None) -> tuple[T, ...] | None:
    return tuple(value) if value is not None else None
