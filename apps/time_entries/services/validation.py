"""The rules every write of time checks: who may write whose time, projects and
tasks, spans, tags and overlaps (400/403/409 with the codes in the README)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable

from django.db.models import F, Q
from django.utils import timezone

from apps.common.errors import does_not_exist, field_error
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.projects.models import Project
from apps.projects.selectors import project_accepts_time, visible_project_filter
from apps.tasks.models import Task
from tenants.db import current_tenant

from ..constants import EntrySource
from ..locking import UserId
from ..models import TimeEntry
from .saving import overlap_error

#: Longer entries need ``confirm_long: true`` (a forgotten timer, a typo in a date).
MAX_ENTRY_WITHOUT_CONFIRMATION = datetime.timedelta(hours=24)
#: Nothing may be longer than this, confirmed or not.
MAX_ENTRY = datetime.timedelta(days=31)
#: Entries may lie this far in the future (planning tomorrow is fine, a wrong year is not).
MAX_FUTURE = datetime.timedelta(days=1)
#: Client clocks run a little ahead; heartbeats this far in the future are clamped to now.
CLOCK_SKEW = datetime.timedelta(minutes=2)
#: Distinct tags (case-insensitive) per entry, and characters per tag (the
#: column's length): :func:`normalize_tags` enforces both on every write path.
MAX_TAGS = 20
MAX_TAG_LENGTH = 60

#: Fields of an entry that ``entry_update`` may change.
ENTRY_FIELDS = ("project", "task", "description", "started_at", "ended_at", "billable", "tags")
#: Sources a caller may give to ``entry_create`` (the timer writes ``timer``).
CREATE_SOURCES = (EntrySource.MANUAL, EntrySource.IMPORT, EntrySource.SUGGESTION)

#: A project or task as a body names it: the object, or its id.
ProjectRef = Project | uuid.UUID | str
TaskRef = Task | uuid.UUID | str


# --- who may write ------------------------------------------------------------------


def check_may_write_for(actor: Membership, user_id: UserId) -> None:
    """Members write their own time; ``entries.manage_all`` (managers and
    above) write anyone's in the organization."""
    require(actor, "time.track")
    if str(user_id) != str(actor.user_id):
        require(actor, "entries.manage_all")


def check_active_member(user_id: UserId) -> None:
    active = Membership.objects.filter(
        organization_id=current_tenant().pk, user_id=user_id, status=MembershipStatus.ACTIVE
    ).exists()
    if not active:
        raise does_not_exist("user", "member")


# --- projects and tasks -------------------------------------------------------------


def resolve_project(actor: Membership, value: ProjectRef | None) -> Project:
    """A live project the actor may see that takes time; else 400."""
    project_id = value.pk if isinstance(value, Project) else value
    project = None
    if project_id is not None:
        query = Project.all_objects.filter(visible_project_filter(actor), pk=project_id)
        project = next(iter(query[:1]), None)
    return checked_project(project)


def checked_project(project: Project | None) -> Project:
    if project is None or project.deleted_at is not None:
        raise does_not_exist("project", "project")
    if not project_accepts_time(project):
        raise field_error(
            "project", "This project is archived: it takes no new time.", code="project_archived"
        )
    return project


def resolve_task(project: Project, value: TaskRef | None) -> Task | None:
    if value is None:
        return None
    task_id = value.pk if isinstance(value, Task) else value
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise does_not_exist("task", "task")
    if task.project_id != project.pk:
        raise field_error(
            "task", "This task belongs to another project.", code="task_project_mismatch"
        )
    return task


# --- tags, spans, overlaps ----------------------------------------------------------


def normalize_tags(tags: Iterable[str], *, field: str = "tags") -> list[str]:
    """The tag rule of every write path (API serializers, timer, manual and
    bulk edits, CSV import): the tags trimmed, without blanks and
    case-insensitive duplicates (first spelling wins), in order.

    Refused, never cut (400 naming ``field``): a tag longer than
    ``MAX_TAG_LENGTH`` characters after trimming → ``tag_too_long``; more
    than ``MAX_TAGS`` distinct tags (counted case-insensitively, so
    ``["a", "A"]`` is one) → ``too_many_tags``. A list with both problems
    gets ``tag_too_long``.
    """
    seen: dict[str, str] = {}
    for tag in tags:
        clean = str(tag).strip()
        if len(clean) > MAX_TAG_LENGTH:
            raise field_error(
                field,
                f"Tags have at most {MAX_TAG_LENGTH} characters ({len(clean)} given).",
                code="tag_too_long",
            )
        if clean and clean.lower() not in seen:
            seen[clean.lower()] = clean
    if len(seen) > MAX_TAGS:
        raise field_error(field, f"At most {MAX_TAGS} tags.", code="too_many_tags")
    return list(seen.values())


def validate_span(
    started_at: datetime.datetime,
    ended_at: datetime.datetime | None,
    *,
    confirm_long: bool = False,
    now: datetime.datetime | None = None,
) -> None:
    """Refuse what is surely a mistake (400): naive times, end before start,
    spans over 24 h without ``confirm_long``, dates far in the future."""
    now = now or timezone.now()
    for field, value in (("started_at", started_at), ("ended_at", ended_at)):
        if value is not None and timezone.is_naive(value):
            raise field_error(field, "Give a time zone offset.", code="naive_datetime")
        if value is not None and value > now + MAX_FUTURE:
            raise field_error(
                field, "This is too far in the future (at most one day).", code="entry_in_future"
            )
    if ended_at is None:
        return
    if ended_at < started_at:
        raise field_error("ended_at", "The end is before the start.", code="end_before_start")
    length = ended_at - started_at
    if length > MAX_ENTRY:
        raise field_error(
            "ended_at", "An entry cannot be longer than 31 days.", code="entry_too_long"
        )
    if length > MAX_ENTRY_WITHOUT_CONFIRMATION and not confirm_long:
        raise field_error(
            "ended_at",
            "This entry is longer than 24 hours: send confirm_long=true if that is right.",
            code="entry_too_long",
        )


def check_overlap(entry: TimeEntry) -> None:
    """409 ``entry_overlap`` naming the entry in the way (the exclusion
    constraint is the backstop; this gives the better message)."""
    if entry.overlap_allowed:
        return
    if entry.ended_at is not None and entry.ended_at == entry.started_at:
        return  # an empty range overlaps nothing (as in PostgreSQL)
    others = TimeEntry.objects.filter(user_id=entry.user_id, overlap_allowed=False).exclude(
        pk=entry.pk
    )
    if entry.ended_at is not None:
        others = others.filter(started_at__lt=entry.ended_at)
    # Others' empty ranges (start == end) overlap nothing either.
    others = others.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=entry.started_at)).exclude(
        ended_at=F("started_at")
    )
    other = others.order_by("started_at").first()
    if other is not None:
        raise overlap_error(other)
