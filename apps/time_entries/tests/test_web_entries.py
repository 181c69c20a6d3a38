"""Add entry, Edit, Delete and Continue on the Time page: the forms write
what the API writes (same services, same rules, same messages), a locked
entry offers no edit and a forged POST is refused, another member's entry
is not found (as the API answers)."""

from __future__ import annotations

import datetime
import html
import zoneinfo
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import app_queries, expect
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.tests.factories import TaskFactory
from apps.time_entries.models import TimeEntry
from apps.timesheets.models import Timesheet

from .factories import TimeEntryFactory
from .test_web import HOUR, NOW, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


TODAY = datetime.date(2026, 11, 26)  # a Thursday; the week is 23..29 November


def local(tenant: Any, hour: int, minute: int = 0) -> datetime.datetime:
    zone = zoneinfo.ZoneInfo(tenant.timezone or "UTC")
    return datetime.datetime.combine(TODAY, datetime.time(hour, minute), tzinfo=zone)


def form(project: Any, task: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "project": str(project.pk),
        "task": str(task.pk) if task else "",
        "description": "Write the spec",
        "date": TODAY.isoformat(),
        "start": "09:00",
        "end": "10:30",
        "tags": "docs, Spec",
        **extra,
    }


def _lock(user_id: Any) -> Timesheet:
    return Timesheet.objects.create(
        user_id=user_id,
        period_start=datetime.date(2026, 11, 23),
        period_end=datetime.date(2026, 11, 29),
        status="submitted",
    )


def test_add_entry_button_opens_the_form(in_tenant):
    client = signed_in(in_tenant)
    ProjectFactory(name="Apollo")

    page = client.get("/").content.decode()
    assert 'action="/entries/new/"' in page and ">Add entry</button>" in page

    response = client.get("/entries/new/")
    body = response.content.decode()
    assert response.status_code == 200
    for label in ("Project", "Task", "Description", "Date", "Start", "End", "Billable", "Tags"):
        assert f">{label}</label>" in body
    assert ">Save</button>" in body and ">Apollo</option>" in body
    assert f'value="{TODAY.isoformat()}"' in body  # today by default


def test_add_entry_writes_what_the_api_writes(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory(billable=True)
    task = TaskFactory(project=project)

    response = client.post("/entries/new/", form(project, task, billable="on"))

    assert response.status_code == 302 and response["Location"] == "/"
    entry = TimeEntry.objects.get()
    assert entry.user_id == client.membership.user_id
    assert (entry.project_id, entry.task_id) == (project.pk, task.pk)
    assert entry.description == "Write the spec"
    # Times typed in the organization's time zone, as the API reads an
    # offset-less datetime.
    assert entry.started_at == local(in_tenant, 9)
    assert entry.ended_at == local(in_tenant, 10, 30)
    assert entry.duration_seconds == 5400
    assert entry.billable is True and entry.tags == ["docs", "Spec"]
    assert entry.source == "manual"
    page = client.get("/").content.decode()
    assert "Write the spec" in page and "1:30:00" in page


def test_refusal_shows_the_apis_message_next_to_the_field_and_keeps_the_input(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    later = TODAY + datetime.timedelta(days=3)
    api = client_as(in_tenant, "member")
    api_body = expect(
        api.post(
            "/api/v1/time-entries/",
            {
                "project": str(project.pk),
                "started_at": f"{later}T11:00:00",
                "ended_at": f"{later}T12:00:00",
            },
            format="json",
        ),
        400,
        "entry_in_future",
    )

    response = client.post(
        "/entries/new/",
        form(project, description="Typed text", date=later.isoformat(), start="11:00", end="12:00"),
    )

    assert response.status_code == 400
    body = response.content.decode()
    message = html.escape(api_body["message"])
    assert f'<ul class="field-errors" id="id_start-errors"><li>{message}</li>' in body
    assert 'value="Typed text"' in body and f'value="{later.isoformat()}"' in body
    assert 'value="11:00"' in body and 'value="12:00"' in body
    assert not TimeEntry.objects.exists()


def test_an_end_before_the_start_is_on_the_next_day(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()

    response = client.post("/entries/new/", form(project, start="22:00", end="01:30"))

    assert response.status_code == 302
    entry = TimeEntry.objects.get()
    assert entry.started_at == local(in_tenant, 22)
    assert entry.ended_at == local(in_tenant, 1, 30) + datetime.timedelta(days=1)
    assert entry.duration_seconds == 3.5 * 3600


def test_overlap_is_refused_with_the_services_message(in_tenant):
    in_tenant.allow_overlapping_entries = False
    in_tenant.save(update_fields=["allow_overlapping_entries"])
    client = signed_in(in_tenant)
    project = ProjectFactory()
    TimeEntryFactory(
        user_id=client.membership.user_id,
        project=project,
        started_at=local(in_tenant, 9, 30),
        ended_at=local(in_tenant, 10),
        duration_seconds=1800,
    )

    response = client.post("/entries/new/", form(project))

    assert response.status_code == 409
    assert 'role="alert"' in response.content.decode()
    assert TimeEntry.objects.count() == 1


def test_edit_is_prefilled_and_writes_what_patch_writes(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    entry = TimeEntryFactory(
        user_id=client.membership.user_id,
        project=project,
        description="Old",
        started_at=local(in_tenant, 8),
        ended_at=local(in_tenant, 9),
        duration_seconds=3600,
    )
    assert f'action="/entries/{entry.pk}/edit/"' in client.get("/").content.decode()

    page = client.get(f"/entries/{entry.pk}/edit/").content.decode()
    assert 'value="Old"' in page and 'value="08:00"' in page and 'value="09:00"' in page

    response = client.post(
        f"/entries/{entry.pk}/edit/", form(project, description="New", start="08:00", end="09:15")
    )

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.description == "New"
    assert entry.ended_at == local(in_tenant, 9, 15) and entry.duration_seconds == 4500


def test_delete_asks_then_soft_deletes(in_tenant):
    client = signed_in(in_tenant)
    entry = TimeEntryFactory(user_id=client.membership.user_id, started_at=local(in_tenant, 8))

    confirm = client.get(f"/entries/{entry.pk}/delete/")
    assert confirm.status_code == 200 and ">Delete</button>" in confirm.content.decode()
    assert TimeEntry.objects.filter(pk=entry.pk).exists()

    response = client.post(f"/entries/{entry.pk}/delete/")

    assert response.status_code == 302
    assert not TimeEntry.objects.filter(pk=entry.pk).exists()
    assert TimeEntry.all_objects.get(pk=entry.pk).deleted_at is not None


def test_delete_needs_the_csrf_token(in_tenant):
    client = signed_in(in_tenant)
    client.enforce_csrf_checks = True
    client.handler.enforce_csrf_checks = True
    entry = TimeEntryFactory(user_id=client.membership.user_id, started_at=local(in_tenant, 8))

    assert client.post(f"/entries/{entry.pk}/delete/").status_code == 403
    assert TimeEntry.objects.filter(pk=entry.pk).exists()


def test_continue_starts_the_timer_with_the_entry(in_tenant):
    client = signed_in(in_tenant)
    task = TaskFactory()
    entry = TimeEntryFactory(
        user_id=client.membership.user_id,
        project=task.project,
        task=task,
        description="Again",
        started_at=local(in_tenant, 8),
    )
    assert f'action="/entries/{entry.pk}/continue/"' in client.get("/").content.decode()

    response = client.post(f"/entries/{entry.pk}/continue/")

    assert response.status_code == 302
    running = TimeEntry.objects.get(ended_at__isnull=True)
    assert (running.description, running.task_id) == ("Again", task.pk)
    assert running.started_at == NOW
    assert 'role="timer"' in client.get("/").content.decode()


def test_locked_entry_shows_no_edit_and_a_forged_post_is_refused(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    entry = TimeEntryFactory(
        user_id=client.membership.user_id,
        project=project,
        description="Locked one",
        started_at=local(in_tenant, 8),
    )
    sheet = _lock(client.membership.user_id)
    message = (
        f"This time is in a submitted timesheet ({sheet.period_start}..{sheet.period_end}) "
        "and is read-only."
    )

    page = client.get("/").content.decode()
    assert "Locked one" in page
    assert f"/entries/{entry.pk}/edit/" not in page and f"/entries/{entry.pk}/delete/" not in page
    assert ">Edit</button>" not in page and ">Delete</button>" not in page

    edit = client.post(f"/entries/{entry.pk}/edit/", form(project, description="Forged"))
    assert edit.status_code == 409 and message in edit.content.decode()
    delete = client.post(f"/entries/{entry.pk}/delete/")
    assert delete.status_code == 409 and message in delete.content.decode()
    add = client.post("/entries/new/", form(project, start="12:00", end="13:00"))
    assert add.status_code == 409 and message in add.content.decode()
    entry.refresh_from_db()
    assert entry.description == "Locked one" and TimeEntry.objects.count() == 1


def test_another_members_entry_is_not_found_as_in_the_api(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    other = TimeEntryFactory(project=project, description="Theirs", started_at=local(in_tenant, 8))
    api = client_as(in_tenant, "member")
    expect(api.patch(f"/api/v1/time-entries/{other.pk}/", {"description": "x"}), 404)

    assert client.get(f"/entries/{other.pk}/edit/").status_code == 404
    assert client.post(f"/entries/{other.pk}/edit/", form(project)).status_code == 404
    assert client.post(f"/entries/{other.pk}/delete/").status_code == 404
    assert client.post(f"/entries/{other.pk}/continue/").status_code == 404
    other.refresh_from_db()
    assert other.description == "Theirs" and other.deleted_at is None
    assert not TimeEntry.objects.filter(ended_at__isnull=True).exists()


def test_viewer_gets_no_entry_forms(in_tenant):
    client = signed_in(in_tenant, role="viewer")
    project = ProjectFactory()

    assert ">Add entry</button>" not in client.get("/").content.decode()
    response = client.post("/entries/new/", form(project))
    assert response.status_code == 403
    assert not TimeEntry.objects.exists()


def test_running_entry_keeps_its_edit_with_no_continue(in_tenant):
    client = signed_in(in_tenant)
    TimeEntryFactory(user_id=client.membership.user_id, started_at=NOW - HOUR, running=True)

    page = client.get("/").content.decode()

    assert ">Continue</button>" not in page and ">Edit</button>" in page


def test_lock_check_is_one_query_for_the_week(in_tenant):
    """The locked flag of every entry comes from one query of the week's
    locking sheets: the page's query count does not grow with entries."""
    client = signed_in(in_tenant)
    _lock(client.membership.user_id)
    project = ProjectFactory()

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(app_queries(captured))

    TimeEntryFactory(
        user_id=client.membership.user_id, project=project, started_at=local(in_tenant, 1)
    )
    few = count()
    for hour in range(2, 12):
        TimeEntryFactory(
            user_id=client.membership.user_id, project=project, started_at=local(in_tenant, hour)
        )
    many = count()

    assert few == many <= 10
    assert ">Edit</button>" not in client.get("/").content.decode()
