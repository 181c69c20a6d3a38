"""Timer: start (stopping a running one at the same instant), stop, current
timer; events to the user; roles; validation of the project and task."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from apps.common.testing import expect
from apps.organizations.tests.factories import client_as
from apps.projects.constants import ProjectStatus
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Task
from apps.time_entries.models import TimeEntry
from apps.time_entries.services.validation import MAX_TAG_LENGTH, MAX_TAGS

from .factories import TimeEntryFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def member(in_tenant):
    return client_as(in_tenant, "member")


def test_no_timer_is_200_null(member):
    response = member.get("/api/v1/timer/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == b"null"


@time_machine.travel(NOW, tick=False)
def test_start_returns_the_running_entry_and_emits_started(member, emitted):
    project = ProjectFactory(hourly_rate=Decimal("90.00"))

    with emitted() as events:
        body = expect(
            member.post(
                "/api/v1/timer/start/",
                {"project": str(project.pk), "description": "Spec", "tags": ["a", "a", " b "]},
                format="json",
            ),
            201,
        )

    entry = TimeEntry.objects.get()
    assert body["id"] == str(entry.pk)
    assert body["is_running"] is True
    assert body["started_at"] == "2026-11-26T10:00:00Z"
    assert body["ended_at"] is None and body["duration_seconds"] is None
    assert body["source"] == "timer"
    assert body["tags"] == ["a", "b"]
    assert body["hourly_rate"] is None  # members do not see rates by default
    assert entry.hourly_rate == Decimal("90.00")
    assert [(e.type, e.op, e.user_ids) for e in events] == [
        ("timer", "started", (str(member.user.pk),))
    ]
    assert expect(member.get("/api/v1/timer/"), 200)["id"] == str(entry.pk)


def test_start_stops_the_running_timer_at_the_same_instant(member, emitted):
    project = ProjectFactory(hourly_rate=Decimal("60.00"))
    with time_machine.travel(NOW, tick=False):
        first = expect(member.post("/api/v1/timer/start/", {"project": str(project.pk)}), 201)
    with time_machine.travel(NOW + datetime.timedelta(minutes=90), tick=False), emitted() as ev:
        second = expect(member.post("/api/v1/timer/start/", {"project": str(project.pk)}), 201)

    old = TimeEntry.objects.get(pk=first["id"])
    assert old.ended_at == NOW + datetime.timedelta(minutes=90)
    assert old.ended_at.isoformat() == second["started_at"].replace("Z", "+00:00")
    assert old.duration_seconds == 5400
    assert old.amount == Decimal("90.00")
    assert TimeEntry.objects.filter(ended_at__isnull=True).count() == 1
    assert [(e.type, e.op) for e in ev] == [("timer", "stopped"), ("timer", "started")]


def test_stop(member, emitted):
    project = ProjectFactory(hourly_rate=Decimal("100.00"))
    with time_machine.travel(NOW, tick=False):
        member.post("/api/v1/timer/start/", {"project": str(project.pk)})
    with time_machine.travel(NOW + datetime.timedelta(seconds=1234), tick=False), emitted() as ev:
        body = expect(member.post("/api/v1/timer/stop/"), 200)

    assert body["duration_seconds"] == 1234
    assert body["is_running"] is False
    entry = TimeEntry.objects.get()
    # 100 x 1234 / 3600 = 34.2777... → 34.28 (half up, to the cent)
    assert entry.amount == Decimal("34.28")
    assert [(e.type, e.op) for e in ev] == [("timer", "stopped")]


def test_stop_without_timer_is_409(member):
    expect(member.post("/api/v1/timer/stop/"), 409, "no_running_timer")


def test_another_users_timer_is_not_mine(in_tenant, member):
    other = client_as(in_tenant, "member")
    TimeEntryFactory(user_id=other.user.pk, running=True)
    assert expect(member.get("/api/v1/timer/"), 200) is None
    expect(member.post("/api/v1/timer/stop/"), 409, "no_running_timer")
    assert TimeEntry.objects.get().ended_at is None


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("outsider", 403, "not_a_member"),
        ("viewer", 403, "role_required"),
    ],
)
def test_who_may_not_start(in_tenant, role, status, code):
    project = ProjectFactory()
    client = client_as(in_tenant, role)
    expect(client.post("/api/v1/timer/start/", {"project": str(project.pk)}), status, code)
    assert not TimeEntry.objects.exists()


def test_unknown_archived_private_project_and_foreign_task_are_400(in_tenant, member):
    archived = ProjectFactory(status=ProjectStatus.ARCHIVED)
    private = ProjectFactory(is_private=True)
    project = ProjectFactory()
    other_task = Task.objects.create(project=ProjectFactory(), title="Elsewhere")

    def start(**body):
        return member.post("/api/v1/timer/start/", body, format="json")

    expect(start(project="00000000-0000-0000-0000-000000000000"), 400, "does_not_exist")
    expect(start(project=str(archived.pk)), 400, "project_archived")
    expect(start(project=str(private.pk)), 400, "does_not_exist")
    body = expect(
        start(project=str(project.pk), task=str(other_task.pk)), 400, "task_project_mismatch"
    )
    assert "task" in body["fields"]
    expect(start(), 400, "invalid")
    assert not TimeEntry.objects.exists()


def test_start_in_the_future_is_400(member):
    project = ProjectFactory()
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat()
    expect(
        member.post("/api/v1/timer/start/", {"project": str(project.pk), "started_at": later}),
        400,
        "entry_in_future",
    )


def test_continue_starts_a_timer_with_the_same_fields(member):
    project = ProjectFactory()
    task = Task.objects.create(project=project, title="Write")
    old = TimeEntryFactory(
        user_id=member.user.pk,
        project=project,
        task=task,
        description="Docs",
        tags=["x"],
        billable=False,
    )
    body = expect(member.post(f"/api/v1/time-entries/{old.pk}/continue/"), 201)
    assert body["is_running"] is True
    assert (body["project"], body["task"], body["description"], body["tags"], body["billable"]) == (
        str(project.pk),
        str(task.pk),
        "Docs",
        ["x"],
        False,
    )


def test_continuing_another_members_entry_is_403_not_author(in_tenant, member):
    """A manager sees everyone's entries but continues only their own timer's."""
    manager = client_as(in_tenant, "manager")
    theirs = TimeEntryFactory(user_id=member.user.pk, project=ProjectFactory())

    body = expect(manager.post(f"/api/v1/time-entries/{theirs.pk}/continue/"), 403, "not_author")

    assert body["message"] == "You can only continue your own entries."
    assert TimeEntry.objects.filter(ended_at__isnull=True).count() == 0


@time_machine.travel(NOW, tick=False)
def test_timer_hot_path_query_budget(member, django_assert_max_num_queries):
    """Start (stopping the running timer) and stop stay lean: stopping keeps
    the rate snapshotted at start, so it looks no rate up."""
    project = ProjectFactory()
    body = {"project": str(project.pk)}
    expect(member.post("/api/v1/timer/start/", body, format="json"), 201)
    # search_path, membership, savepoint pair, project with the rate (taking
    # the advisory lock), running and later entries, stop UPDATE and INSERT
    # (each checking its span's timesheet lock itself).
    with django_assert_max_num_queries(8):
        expect(member.post("/api/v1/timer/start/", body, format="json"), 201)
    # search_path, membership, savepoint pair, advisory lock, running entry,
    # UPDATE (with the timesheet-lock check).
    with django_assert_max_num_queries(7):
        expect(member.post("/api/v1/timer/stop/", {}, format="json"), 200)
    # No timer running: search_path, membership, savepoint pair, project with
    # the rate and the lock, running and later entries, INSERT with its check.
    with django_assert_max_num_queries(7):
        expect(member.post("/api/v1/timer/start/", body, format="json"), 201)


# --- overlaps on start (the running and later entries come in one locked query) ---


def _finished(member, start, minutes=60, **kw):
    return TimeEntryFactory(
        user_id=member.user.pk,
        started_at=start,
        ended_at=start + datetime.timedelta(minutes=minutes),
        **kw,
    )


@time_machine.travel(NOW, tick=False)
def test_start_into_a_later_entry_is_409_naming_it_and_writes_nothing(member):
    project = ProjectFactory()
    later = _finished(member, NOW + datetime.timedelta(minutes=30))  # planned, within a day
    response = member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json")
    body = expect(response, 409, "entry_overlap")
    assert body["conflicting_entry"] == str(later.pk)
    assert list(TimeEntry.objects.all()) == [later]


@time_machine.travel(NOW, tick=False)
def test_offline_start_in_the_past_overlapping_a_finished_entry_is_409(member):
    project = ProjectFactory()
    earlier = _finished(member, NOW - 2 * HOUR)  # 08:00-09:00
    response = member.post(
        "/api/v1/timer/start/",
        {"project": str(project.pk), "started_at": (NOW - 90 * MINUTE).isoformat()},
        format="json",
    )
    assert expect(response, 409, "entry_overlap")["conflicting_entry"] == str(earlier.pk)


@time_machine.travel(NOW, tick=False)
def test_start_next_to_finished_and_empty_entries_is_fine(member):
    project = ProjectFactory()
    _finished(member, NOW - HOUR)  # ends exactly at NOW: touching is not overlapping
    _finished(member, NOW + HOUR, minutes=0)  # an empty range overlaps nothing
    expect(member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json"), 201)


@time_machine.travel(NOW, tick=False)
def test_start_over_a_later_entry_when_the_organization_allows_overlaps(in_tenant, member):
    in_tenant.allow_overlapping_entries = True
    in_tenant.save(update_fields=["allow_overlapping_entries"])
    project = ProjectFactory()
    _finished(member, NOW + datetime.timedelta(minutes=30), overlap_allowed=True)
    expect(member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json"), 201)


def test_service_start_with_a_malformed_project_id_is_400_and_writes_nothing(member):
    """The serializer refuses it first; the service answers the same for
    callers that pass text (an unknown project, not a 500)."""
    from apps.common.errors import ApplicationError
    from apps.time_entries.services.timer import timer_start

    with pytest.raises(ApplicationError) as refused:
        timer_start(actor=member.membership, project_id="not-a-uuid")
    assert refused.value.code == "does_not_exist"
    assert not TimeEntry.objects.exists()


# --- timesheet locks on start (the check rides in the INSERT when no timer runs) ---


def _locked_week(user_id, status="submitted"):
    from apps.timesheets.models import Timesheet

    monday = (NOW - datetime.timedelta(days=NOW.weekday())).date()
    return Timesheet.objects.create(
        user_id=user_id,
        period_start=monday,
        period_end=monday + datetime.timedelta(days=6),
        status=status,
    )


@pytest.mark.parametrize("status", ["submitted", "approved"])
@time_machine.travel(NOW, tick=False)
def test_a_start_in_a_locked_week_is_409_and_writes_nothing(member, status):
    project = ProjectFactory()
    sheet = _locked_week(member.user.pk, status)
    body = expect(
        member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json"),
        409,
        "entry_locked",
    )
    assert body["timesheet"] == str(sheet.pk)
    assert not TimeEntry.all_objects.filter(user_id=member.user.pk).exists()


@time_machine.travel(NOW, tick=False)
def test_a_start_that_would_stop_a_timer_in_a_locked_week_is_409(member):
    project = ProjectFactory()
    running = TimeEntryFactory(
        user_id=member.user.pk, project=project, running=True, started_at=NOW - HOUR
    )
    _locked_week(member.user.pk)
    expect(
        member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json"),
        409,
        "entry_locked",
    )
    running.refresh_from_db()
    assert running.ended_at is None
    assert TimeEntry.all_objects.filter(user_id=member.user.pk).count() == 1


@time_machine.travel(NOW, tick=False)
def test_a_draft_or_rejected_week_takes_a_start(member):
    project = ProjectFactory()
    _locked_week(member.user.pk, status="rejected")
    expect(member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json"), 201)


@time_machine.travel(NOW, tick=False)
def test_a_stop_in_a_locked_week_is_409_and_the_timer_runs_on(member):
    """The stop's timesheet-lock check rides in its UPDATE: nothing written."""
    project = ProjectFactory()
    running = TimeEntryFactory(
        user_id=member.user.pk, project=project, running=True, started_at=NOW - HOUR
    )
    sheet = _locked_week(member.user.pk, status="approved")
    body = expect(member.post("/api/v1/timer/stop/", {}, format="json"), 409, "entry_locked")
    assert body["timesheet"] == str(sheet.pk)
    running.refresh_from_db()
    assert running.ended_at is None and running.amount is None


@pytest.mark.parametrize(
    ("tags", "code", "message"),
    [
        ([f"t{i}" for i in range(MAX_TAGS + 1)], "too_many_tags", f"At most {MAX_TAGS} tags."),
        (
            ["x" * (MAX_TAG_LENGTH + 1)],
            "tag_too_long",
            f"Tags have at most {MAX_TAG_LENGTH} characters ({MAX_TAG_LENGTH + 1} given).",
        ),
    ],
)
def test_start_refuses_bad_tags_with_the_service_code(member, tags, code, message):
    """The timer takes tags by the same rule and codes as manual entries."""
    body = expect(
        member.post(
            "/api/v1/timer/start/",
            {"project": str(ProjectFactory().pk), "tags": tags},
            format="json",
        ),
        400,
    )
    assert body == {"code": code, "message": message, "fields": {"tags": [message]}}
    assert not TimeEntry.objects.exists()
    twenty = [f"t{i}" for i in range(MAX_TAGS)]
    body = expect(
        member.post(
            "/api/v1/timer/start/",
            {"project": str(ProjectFactory().pk), "tags": [*twenty, "T1"]},
            format="json",
        ),
        201,
    )
    assert body["tags"] == twenty
