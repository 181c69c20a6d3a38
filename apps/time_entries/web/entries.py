"""Add entry, Edit, Delete and Continue on the Time page (plain forms).

Each form calls the same service as the API (``POST``/``PATCH``/``DELETE
/api/v1/time-entries/`` and ``…/continue/``): :mod:`apps.time_entries.services`
with ``actor`` the member. The entry is found with the API's selector
(another user's entry is 404 unless the role may see it; writing it is then
refused by the service, as the API refuses it). A refusal re-renders the
form with the service's message next to the field it names and what was
typed kept.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.time_entries import selectors
from apps.time_entries.models import TimeEntry
from apps.time_entries.services.entries import entry_create, entry_delete, entry_update
from apps.time_entries.services.timer import entry_continue

from .forms import EntryForm
from .views import _page, _project_choices, _task_choices

#: The API's field names → this form's (a service error names the API's).
FIELD_NAMES = {"started_at": "start", "ended_at": "end"}


def _zone(actor: Membership) -> datetime.tzinfo:
    """The page's time zone (apps.iam.middleware activates it: the user's own,
    else the organization's): the times shown are the times typed."""
    return timezone.get_current_timezone()


def _data(actor: Membership, cleaned: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the API's validated body: the local date and
    times read in the page's time zone."""
    zone = _zone(actor)
    date = cleaned["date"]
    tags = [t for t in (cleaned.get("tags") or "").split(",") if t.strip()]
    # An End before the Start is on the next day (22:00 to 01:30, a night
    # shift), as Clockify and Toggl read it; End equal to Start is a
    # zero-length entry, which the API accepts too.
    end_date = date + datetime.timedelta(days=1) if cleaned["end"] < cleaned["start"] else date
    return {
        "project": cleaned["project"],
        "task": cleaned.get("task"),
        "description": cleaned.get("description") or "",
        "started_at": datetime.datetime.combine(date, cleaned["start"], tzinfo=zone),
        "ended_at": datetime.datetime.combine(end_date, cleaned["end"], tzinfo=zone),
        "billable": cleaned.get("billable", False),
        "tags": tags,
    }


def _initial(actor: Membership, entry: TimeEntry) -> dict[str, Any]:
    zone = _zone(actor)
    start = entry.started_at.astimezone(zone)
    end = entry.ended_at.astimezone(zone) if entry.ended_at else None
    return {
        "project": str(entry.project_id),
        "task": str(entry.task_id) if entry.task_id else "",
        "description": entry.description,
        "date": start.date().isoformat(),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M") if end else "",
        "billable": entry.billable,
        "tags": ", ".join(entry.tags or ()),
    }


def _form_page(
    request: HttpRequest,
    actor: Membership,
    *,
    data: Any = None,
    initial: Any = None,
    entry: TimeEntry | None = None,
    error: ApplicationError | None = None,
) -> HttpResponse:
    projects = _project_choices(actor)
    tasks = _task_choices(actor, [p.pk for p in projects])
    form = EntryForm(data, initial=initial, projects=projects, tasks=tasks)
    if error is not None and data is not None:
        form.is_valid()
        fields = (error.extra or {}).get("fields") or {}
        for name, messages in fields.items():
            name = FIELD_NAMES.get(name, name)
            if name in form.fields:
                for message in messages:
                    if message not in form.errors.get(name, []):
                        form.add_error(name, str(message))
    context = {"form": form, "entry": entry, "error": error, "actor": actor}
    status = error.status_code if error is not None else 200
    return render(request, "time_entries/entry_form.html", context, status=status)


def _invalid(form: EntryForm) -> ApplicationError:
    fields = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
    return ApplicationError(next(iter(fields.values()))[0], extra={"fields": fields})


def _time_page() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("time_entries_web:time"))


@require_http_methods(["GET", "POST"])
@member_page
def entry_new(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if request.method == "GET":
        today = datetime.datetime.now(_zone(actor)).date().isoformat()
        return _form_page(request, actor, initial={"date": today})
    form = EntryForm(request.POST)
    if not form.is_valid():
        return _form_page(request, actor, data=request.POST, error=_invalid(form))
    try:
        require(actor, "time.track")  # the API's write permission
        entry_create(actor=actor, data=_data(actor, form.cleaned_data))
    except ApplicationError as exc:
        return _form_page(request, actor, data=request.POST, error=exc)
    return _time_page()


@require_http_methods(["GET", "POST"])
@member_page
def entry_edit(request: HttpRequest, entry_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    entry = selectors.entry_get_for_member(actor=actor, entry_id=entry_id)
    if request.method == "GET":
        return _form_page(request, actor, initial=_initial(actor, entry), entry=entry)
    form = EntryForm(request.POST)
    if not form.is_valid():
        return _form_page(request, actor, data=request.POST, entry=entry, error=_invalid(form))
    try:
        require(actor, "time.track")
        entry_update(actor=actor, entry=entry, data=_data(actor, form.cleaned_data))
    except ApplicationError as exc:
        return _form_page(request, actor, data=request.POST, entry=entry, error=exc)
    return _time_page()


@require_http_methods(["GET", "POST"])
@member_page
def entry_remove(request: HttpRequest, entry_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    """GET: the confirmation step (works without JavaScript); POST: delete."""
    entry = selectors.entry_get_for_member(actor=actor, entry_id=entry_id)
    error = None
    if request.method == "POST":
        try:
            require(actor, "time.track")
            entry_delete(actor=actor, entry=entry)
        except ApplicationError as exc:
            error = exc
        else:
            return _time_page()
    context = {"entry": entry, "error": error, "actor": actor}
    status = error.status_code if error is not None else 200
    return render(request, "time_entries/entry_delete.html", context, status=status)


@require_POST
@member_page
def entry_continue_submit(
    request: HttpRequest, entry_id: uuid.UUID, *, actor: Membership
) -> HttpResponse:
    entry = selectors.entry_get_for_member(actor=actor, entry_id=entry_id)
    try:
        require(actor, "time.track")
        entry_continue(actor=actor, entry=entry)
    except ApplicationError as exc:
        return _page(request, actor, error=exc)
    return _time_page()
