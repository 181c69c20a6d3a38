"""The Time page (``/``) and its timer forms (``/timer/start/``, ``/timer/stop/``).

Thin like the API's views: the page reads through the selectors, the forms
call the same services as ``POST /api/v1/timer/start/`` and ``/stop/``
(:mod:`apps.time_entries.services.timer`), with the same permission
(``time.track``). A refused write re-renders the page with the service's
message next to the form and what was typed kept. Forms work without
JavaScript (plain POST + redirect); static/app.js only makes the timer tick.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.projects.selectors import projects_accepting_time
from apps.tasks.selectors import tasks_visible_to
from apps.time_entries import selectors
from apps.time_entries.constants import IdleResolution
from apps.time_entries.locking import locked_sheets
from apps.time_entries.models import IdlePeriod, TimeEntry
from apps.time_entries.services.idle import idle_period_resolve
from apps.time_entries.services.timer import timer_start, timer_stop

from .forms import TimerStartForm

#: The idle prompt's buttons, by the API's actions (``IDLE_ACTIONS``).
IDLE_BUTTONS = (
    ("keep", gettext_lazy("Keep")),
    ("discard", gettext_lazy("Discard")),
    ("discard_and_continue", gettext_lazy("Discard and continue")),
)

#: At most this many tasks in the Task list (the page's size stays bounded).
MAX_TASK_CHOICES = 500


@dataclass
class Day:
    """One day of the week's list: its entries (newest first) and the total
    of the finished ones."""

    date: datetime.date
    is_today: bool
    entries: list[TimeEntry] = field(default_factory=list)

    @property
    def total_seconds(self) -> int:
        return sum(e.duration_seconds or 0 for e in self.entries if e.ended_at is not None)


def _week(actor: Membership) -> tuple[datetime.tzinfo, datetime.date, datetime.date]:
    """The page's time zone (apps.iam.middleware activates it: the user's
    own, else the organization's), today there, and the first day of this
    week (the organization's ``week_start``)."""
    organization = actor.organization
    zone = timezone.get_current_timezone()
    today = timezone.localtime(timezone=zone).date()
    first = today - datetime.timedelta(days=(today.weekday() - organization.week_start) % 7)
    return zone, today, first


def _days(actor: Membership) -> list[Day]:
    """This week's own entries grouped by day, today first (always there)."""
    zone, today, first = _week(actor)
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min, zone)
    days = {today: Day(date=today, is_today=True)}
    # The lock rule (apps/time_entries/locking.py), batched: the week's
    # locking sheets in one query, each entry checked in memory.
    locked = locked_sheets(
        organization=actor.organization, user_ids=[actor.user_id], started_at=start, ended_at=end
    )
    for entry in selectors.entry_list(actor=actor).filter(
        user_id=actor.user_id, started_at__gte=start, started_at__lt=end
    ):
        entry.locked = (  # type: ignore[attr-defined]
            locked.covering(
                user_id=entry.user_id, started_at=entry.started_at, ended_at=entry.ended_at or end
            )
            is not None
        )
        date = entry.started_at.astimezone(zone).date()
        days.setdefault(date, Day(date=date, is_today=False)).entries.append(entry)
    return sorted(days.values(), key=lambda day: day.date, reverse=True)


def _task_choices(actor: Membership, project_ids: list[Any]) -> list[Any]:
    """The visible tasks of ``project_ids`` for the Task list (bounded), as
    light rows (``pk``, ``title``): hundreds of model instances per request
    cost more than the rest of the page."""
    return list(
        tasks_visible_to(actor=actor)
        .filter(project_id__in=project_ids)
        .order_by("title")
        .values_list("pk", "title", named=True)[:MAX_TASK_CHOICES]
    )


def _timer_choices(actor: Membership, project: Any) -> tuple[list[Any], list[Any]]:
    """The Project list, and the Task list of the chosen ``project`` (a
    submitted id), else of every project (without JavaScript nothing swaps
    the tasks in when the Project changes)."""
    projects = _project_choices(actor)
    chosen = [p.pk for p in projects if project and str(p.pk) == project]
    return projects, _task_choices(actor, chosen or [p.pk for p in projects])


def _project_choices(actor: Membership) -> list[Any]:
    """The projects that take time, as light rows (``pk``, ``name``)."""
    return list(projects_accepting_time(actor=actor).values_list("pk", "name", named=True))


def _page(
    request: HttpRequest,
    actor: Membership,
    *,
    data: Any = None,
    error: ApplicationError | None = None,
) -> HttpResponse:
    projects, tasks = _timer_choices(actor, data.get("project") if data else None)
    running = selectors.running_entry(actor=actor)
    days = _days(actor)
    idle = _pending_idle(actor)
    # Bound to what was posted after a refusal: nothing typed is lost.
    form = TimerStartForm(data, projects=projects, tasks=tasks)
    context: dict[str, Any] = {
        "form": form,
        "error": error,
        "running": running,
        "idle": idle,
        "idle_actions": IDLE_BUTTONS,
        "days": days,
        "week_total_seconds": sum(day.total_seconds for day in days),
        "may_track": may(actor, "time.track"),
        "actor": actor,
    }
    status = error.status_code if error is not None else 200
    return render(request, "time_entries/time.html", context, status=status)


def _pending_idle(actor: Membership) -> IdlePeriod | None:
    """The oldest undecided idle period (a client's heartbeats detected it,
    apps/time_entries/services/idle.py): the page asks about one at a time.
    The web page sends no heartbeats itself: a browser tab cannot tell the
    user is idle (they may be working in another program)."""
    if not may(actor, "time.track"):
        return None
    idle = (
        selectors.idle_period_list(actor=actor)
        .filter(resolution=IdleResolution.PENDING)
        .order_by("started_at", "id")
        .first()
    )
    if idle is not None:
        idle.minutes = int((idle.ended_at - idle.started_at).total_seconds() // 60)  # type: ignore[attr-defined]
    return idle


@require_GET
@member_page
def time_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    return _page(request, actor)


@require_POST
@member_page
def timer_start_submit(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    form = TimerStartForm(request.POST)
    if not form.is_valid():
        return _page(request, actor, data=request.POST, error=_form_error(form))
    try:
        timer_start(
            actor=actor,
            project_id=form.cleaned_data["project"],
            task_id=form.cleaned_data.get("task"),
            description=form.cleaned_data.get("description", ""),
        )
    except ApplicationError as exc:
        return _page(request, actor, data=request.POST, error=exc)
    return HttpResponseRedirect(reverse("time_entries_web:time"))


@require_POST
@member_page
def timer_stop_submit(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    try:
        require(actor, "time.track")  # the API's write permission on /timer/stop/
        timer_stop(user_id=actor.user_id)
    except ApplicationError as exc:
        return _page(request, actor, error=exc)
    return HttpResponseRedirect(reverse("time_entries_web:time"))


@require_POST
@member_page
def idle_resolve_submit(request: HttpRequest, idle_id: Any, *, actor: Membership) -> HttpResponse:
    """Keep / Discard / Discard and continue: the API's
    ``POST /api/v1/activity/idle-periods/{id}/resolve/``."""
    action = request.POST.get("action", "")
    try:
        idle = selectors.idle_period_get(actor=actor, idle_period_id=idle_id)
        idle_period_resolve(actor=actor, idle_period=idle, action=action)
    except ApplicationError as exc:
        return _page(request, actor, error=exc)
    return HttpResponseRedirect(reverse("time_entries_web:time"))


@require_GET
@member_page
def timer_task_field(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """The Task list for the chosen project (htmx swaps it in when the Project
    changes; without JavaScript the list holds the tasks of every project)."""
    projects, tasks = _timer_choices(actor, request.GET.get("project"))
    form = TimerStartForm(projects=projects, tasks=tasks)
    return render(request, "time_entries/_task_field.html", {"form": form})


#: A fragment htmx swaps into a page, not a page (the browser walk of every
#: page, tests/isolation/test_pages_browser.py, leaves it out).
timer_task_field.web_fragment = True  # type: ignore[attr-defined]


def _form_error(form: TimerStartForm) -> ApplicationError:
    """The form's field errors as the API's 400 shape would name them."""
    fields = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
    first = next(iter(fields.values()))[0]
    return ApplicationError(first, extra={"fields": fields})
