"""Manual entries: create/read/update/delete, validation, overlaps, locking
by timesheets, visibility of entries and of money, list filters."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from apps.common.errors import ApplicationError
from apps.common.testing import expect
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory, ProjectMemberFactory
from apps.tasks.models import Task
from apps.time_entries.models import TimeEntry
from apps.time_entries.services.validation import MAX_TAG_LENGTH, MAX_TAGS, normalize_tags
from apps.timesheets.models import Timesheet

from .factories import TimeEntryFactory

pytestmark = pytest.mark.django_db

DAY = datetime.datetime(2026, 11, 3, tzinfo=datetime.UTC)  # a Tuesday


def at(hour: float) -> str:
    return (DAY + datetime.timedelta(hours=hour)).isoformat()


def _entry(project: Any, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {"project": str(project.pk), "started_at": at(start), "ended_at": at(end), **extra}


@pytest.fixture
def member(in_tenant):
    return client_as(in_tenant, "member")


@pytest.fixture
def manager(in_tenant):
    return client_as(in_tenant, "manager")


def _lock(user_id: Any, status: str = "submitted") -> Timesheet:
    return Timesheet.objects.create(
        user_id=user_id,
        period_start=datetime.date(2026, 11, 2),
        period_end=datetime.date(2026, 11, 8),
        status=status,
    )


def test_create_snapshots_rate_and_amount(in_tenant, manager):
    project = ProjectFactory(hourly_rate=Decimal("80.00"))
    body = expect(
        manager.post("/api/v1/time-entries/", _entry(project, 9, 10.5), format="json"), 201
    )
    assert body["duration_seconds"] == 5400
    assert body["hourly_rate"] == "80.00"
    assert body["amount"] == "120.00"
    assert body["source"] == "manual"
    assert body["is_running"] is False
    assert body["user"] == str(manager.user.pk)
    entry = TimeEntry.objects.get()
    assert (entry.hourly_rate, entry.amount, entry.billable) == (
        Decimal("80.00"),
        Decimal("120.00"),
        True,
    )


def test_rate_hierarchy(in_tenant, member):
    in_tenant.default_hourly_rate = Decimal("10.00")
    in_tenant.save(update_fields=["default_hourly_rate"])
    no_rate = ProjectFactory(hourly_rate=None)
    with_rate = ProjectFactory(hourly_rate=Decimal("50.00"))
    with_member_rate = ProjectFactory(hourly_rate=Decimal("50.00"))
    ProjectMemberFactory(
        project=with_member_rate, user_id=member.user.pk, hourly_rate=Decimal("70.00")
    )

    def rate_of(project, start):
        member.post("/api/v1/time-entries/", _entry(project, start, start + 1), format="json")
        return TimeEntry.objects.get(project=project).hourly_rate

    assert rate_of(no_rate, 0) == Decimal("10.00")  # organization default
    assert rate_of(with_rate, 2) == Decimal("50.00")  # project
    assert rate_of(with_member_rate, 4) == Decimal("70.00")  # project member
    member.membership.hourly_rate = Decimal("33.00")
    member.membership.save()
    TimeEntry.objects.filter(project=no_rate).delete()
    assert rate_of(no_rate, 6) == Decimal("33.00")  # member default beats the org's


def test_non_billable_amount_is_zero(manager):
    project = ProjectFactory(hourly_rate=Decimal("80.00"))
    body = expect(
        manager.post(
            "/api/v1/time-entries/", _entry(project, 9, 10, billable=False), format="json"
        ),
        201,
    )
    assert (body["billable"], body["amount"]) == (False, "0.00")


def test_members_see_their_money_only_when_the_org_allows(in_tenant, member):
    project = ProjectFactory(hourly_rate=Decimal("80.00"))
    created = expect(
        member.post("/api/v1/time-entries/", _entry(project, 9, 10), format="json"), 201
    )
    assert (created["hourly_rate"], created["amount"]) == (None, None)

    in_tenant.members_see_rates = True
    in_tenant.save(update_fields=["members_see_rates"])
    body = expect(member.get(f"/api/v1/time-entries/{created['id']}/"), 200)
    assert (body["hourly_rate"], body["amount"]) == ("80.00", "80.00")


@pytest.mark.parametrize(
    ("start", "end", "extra", "code", "field"),
    [
        (10, 9, {}, "end_before_start", "ended_at"),
        (0, 25, {}, "entry_too_long", "ended_at"),
        (-24 * 50, -24 * 10, {"confirm_long": True}, "entry_too_long", "ended_at"),
        (24 * 400, 24 * 400 + 1, {}, "entry_in_future", "started_at"),
    ],
)
def test_bad_spans_are_400_and_write_nothing(member, start, end, extra, code, field):
    project = ProjectFactory()
    body = expect(
        member.post("/api/v1/time-entries/", _entry(project, start, end, **extra), format="json"),
        400,
        code,
    )
    assert field in body["fields"]
    assert not TimeEntry.objects.exists()


def test_long_entry_with_confirmation(member):
    project = ProjectFactory()
    body = expect(
        member.post(
            "/api/v1/time-entries/", _entry(project, 0, 30, confirm_long=True), format="json"
        ),
        201,
    )
    assert body["duration_seconds"] == 30 * 3600


def test_missing_and_malformed_fields_are_400(member):
    project = ProjectFactory()
    expect(member.post("/api/v1/time-entries/", {"project": str(project.pk)}, format="json"), 400)
    body = expect(
        member.post(
            "/api/v1/time-entries/",
            {"project": "nope", "started_at": "yesterday", "ended_at": at(1)},
            format="json",
        ),
        400,
        "invalid",
    )
    assert set(body["fields"]) == {"project", "started_at"}
    assert not TimeEntry.objects.exists()


def test_naive_times_are_read_in_the_organization_time_zone(in_tenant, member):
    in_tenant.timezone = "Europe/Berlin"
    in_tenant.save(update_fields=["timezone"])
    project = ProjectFactory()
    body = expect(
        member.post(
            "/api/v1/time-entries/",
            {
                "project": str(project.pk),
                "started_at": "2026-11-03T09:00:00",
                "ended_at": "2026-11-03T10:00:00",
            },
            format="json",
        ),
        201,
    )
    assert TimeEntry.objects.get().started_at == datetime.datetime(
        2026, 11, 3, 8, 0, tzinfo=datetime.UTC
    )
    assert body["duration_seconds"] == 3600


def test_overlap_is_409_naming_the_other_entry(member):
    project = ProjectFactory()
    first = expect(member.post("/api/v1/time-entries/", _entry(project, 9, 11), format="json"), 201)
    body = expect(
        member.post("/api/v1/time-entries/", _entry(project, 10, 12), format="json"),
        409,
        "entry_overlap",
    )
    assert body["conflicting_entry"] == first["id"]
    # Touching is not overlapping ([9, 11) then [11, 12)).
    expect(member.post("/api/v1/time-entries/", _entry(project, 11, 12), format="json"), 201)
    assert TimeEntry.objects.count() == 2


def test_overlaps_allowed_by_the_organization(in_tenant, member):
    in_tenant.allow_overlapping_entries = True
    in_tenant.save(update_fields=["allow_overlapping_entries"])
    project = ProjectFactory()
    expect(member.post("/api/v1/time-entries/", _entry(project, 9, 11), format="json"), 201)
    expect(member.post("/api/v1/time-entries/", _entry(project, 10, 12), format="json"), 201)
    assert list(TimeEntry.objects.values_list("overlap_allowed", flat=True)) == [True, True]


def test_other_users_may_overlap(in_tenant, member):
    project = ProjectFactory()
    TimeEntryFactory(
        user_id=client_as(in_tenant, "member").user.pk,
        project=project,
        started_at=DAY + datetime.timedelta(hours=9),
        ended_at=DAY + datetime.timedelta(hours=11),
    )
    expect(member.post("/api/v1/time-entries/", _entry(project, 9, 11), format="json"), 201)


@pytest.mark.parametrize("status", ["submitted", "approved"])
def test_locked_period_refuses_every_write(member, status):
    project = ProjectFactory()
    entry = TimeEntryFactory(user_id=member.user.pk, project=project, started_at=DAY)
    sheet = _lock(member.user.pk, status)
    before = list(TimeEntry.all_objects.values())

    body = expect(
        member.post("/api/v1/time-entries/", _entry(project, 5, 6), format="json"),
        409,
        "entry_locked",
    )
    assert body["timesheet"] == str(sheet.pk)
    url = f"/api/v1/time-entries/{entry.pk}/"
    expect(member.patch(url, {"description": "x"}, format="json"), 409, "entry_locked")
    expect(member.delete(url), 409, "entry_locked")
    expect(
        member.post(
            "/api/v1/time-entries/bulk/", {"ids": [str(entry.pk)], "delete": True}, format="json"
        ),
        409,
        "entry_locked",
    )
    # Moving an entry out of the locked week is a write to the locked week too.
    expect(
        member.patch(
            url,
            {"started_at": "2026-11-20T09:00:00Z", "ended_at": "2026-11-20T10:00:00Z"},
            format="json",
        ),
        409,
        "entry_locked",
    )
    assert list(TimeEntry.all_objects.values()) == before


def test_moving_into_a_locked_period_is_409(member):
    project = ProjectFactory()
    entry = TimeEntryFactory(
        user_id=member.user.pk,
        project=project,
        started_at=datetime.datetime(2026, 11, 20, 9, tzinfo=datetime.UTC),
        ended_at=datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.UTC),
    )
    _lock(member.user.pk, "approved")
    expect(
        member.patch(
            f"/api/v1/time-entries/{entry.pk}/",
            {"started_at": at(9), "ended_at": at(10)},
            format="json",
        ),
        409,
        "entry_locked",
    )


def test_draft_and_rejected_sheets_do_not_lock(member):
    project = ProjectFactory()
    _lock(member.user.pk, "rejected")
    expect(member.post("/api/v1/time-entries/", _entry(project, 9, 10), format="json"), 201)


def test_update(member, emitted):
    project = ProjectFactory(hourly_rate=Decimal("60.00"))
    other = ProjectFactory(hourly_rate=Decimal("120.00"))
    task = Task.objects.create(project=project, title="T")
    entry = TimeEntryFactory(user_id=member.user.pk, project=project, task=task, started_at=DAY)

    with emitted() as events:
        body = expect(
            member.patch(
                f"/api/v1/time-entries/{entry.pk}/",
                {
                    "project": str(other.pk),
                    "ended_at": (DAY + datetime.timedelta(minutes=30)).isoformat(),
                    "tags": ["q"],
                },
                format="json",
            ),
            200,
        )

    entry.refresh_from_db()
    assert (entry.project_id, entry.task_id, entry.duration_seconds) == (other.pk, None, 1800)
    assert (entry.hourly_rate, entry.amount, entry.tags) == (
        Decimal("120.00"),
        Decimal("60.00"),
        ["q"],
    )
    assert body["task"] is None
    assert [(e.type, e.op) for e in events] == [("time_entry", "updated")]


def test_finished_entry_cannot_run_again(member):
    entry = TimeEntryFactory(user_id=member.user.pk)
    expect(
        member.patch(f"/api/v1/time-entries/{entry.pk}/", {"ended_at": None}, format="json"),
        400,
        "cannot_restart",
    )


def test_delete_is_soft(member, emitted):
    entry = TimeEntryFactory(user_id=member.user.pk)
    with emitted() as events:
        expect(member.delete(f"/api/v1/time-entries/{entry.pk}/"), 204)
    assert not TimeEntry.objects.exists()
    assert TimeEntry.all_objects.get().deleted_at is not None
    assert [(e.type, e.op) for e in events] == [("time_entry", "deleted")]
    expect(member.get(f"/api/v1/time-entries/{entry.pk}/"), 404)


def test_members_see_and_write_only_their_own(in_tenant, member):
    other = client_as(in_tenant, "member")
    theirs = TimeEntryFactory(user_id=other.user.pk)
    mine = TimeEntryFactory(user_id=member.user.pk)

    listed = expect(member.get("/api/v1/time-entries/"), 200)["results"]
    assert [e["id"] for e in listed] == [str(mine.pk)]
    url = f"/api/v1/time-entries/{theirs.pk}/"
    expect(member.get(url), 404)
    expect(member.patch(url, {"description": "mine now"}, format="json"), 404)
    expect(member.delete(url), 404)
    expect(
        member.post(
            "/api/v1/time-entries/",
            _entry(ProjectFactory(), 1, 2, user=str(other.user.pk)),
            format="json",
        ),
        403,
        "role_required",
    )
    theirs.refresh_from_db()
    assert theirs.deleted_at is None and theirs.description.startswith("Work")


def test_managers_see_and_write_everyones(in_tenant, manager):
    member = client_as(in_tenant, "member")
    theirs = TimeEntryFactory(user_id=member.user.pk)
    listed = expect(manager.get(f"/api/v1/time-entries/?user={member.user.pk}"), 200)["results"]
    assert [e["id"] for e in listed] == [str(theirs.pk)]
    expect(
        manager.patch(
            f"/api/v1/time-entries/{theirs.pk}/", {"description": "fixed"}, format="json"
        ),
        200,
    )
    created = expect(
        manager.post(
            "/api/v1/time-entries/",
            _entry(ProjectFactory(), 1, 2, user=str(member.user.pk)),
            format="json",
        ),
        201,
    )
    assert created["user"] == str(member.user.pk)
    outsider = client_as(in_tenant, "outsider")
    expect(
        manager.post(
            "/api/v1/time-entries/",
            _entry(ProjectFactory(), 3, 4, user=str(outsider.user.pk)),
            format="json",
        ),
        400,
        "does_not_exist",
    )


def test_viewers_read_only(in_tenant):
    viewer = client_as(in_tenant, "viewer")
    expect(viewer.get("/api/v1/time-entries/"), 200)
    expect(
        viewer.post("/api/v1/time-entries/", _entry(ProjectFactory(), 1, 2), format="json"),
        403,
        "role_required",
    )


def test_list_filters(in_tenant, manager):
    in_tenant.timezone = "America/New_York"  # UTC-5 in November
    in_tenant.save(update_fields=["timezone"])
    a, b = ProjectFactory(), ProjectFactory()
    uid = manager.user.pk

    def make(project, hour, **kw):
        start = DAY + datetime.timedelta(hours=hour)
        return TimeEntryFactory(
            user_id=uid,
            project=project,
            started_at=start,
            ended_at=start + datetime.timedelta(minutes=30),
            **kw,
        )

    early = make(a, 3)  # 2026-11-02 22:00 in New York
    morning = make(a, 14, tags=["red"], billable=False)  # 2026-11-03 09:00
    late = make(b, 28, tags=["blue", "red"])  # 2026-11-03 23:00 in New York

    def ids(query):
        return [
            e["id"] for e in expect(manager.get(f"/api/v1/time-entries/?{query}"), 200)["results"]
        ]

    assert ids("from=2026-11-03&to=2026-11-03") == [str(late.pk), str(morning.pk)]
    assert ids("to=2026-11-02") == [str(early.pk)]
    assert ids("from=2026-11-03T14:00:00Z") == [str(late.pk), str(morning.pk)]
    assert ids(f"project={b.pk}") == [str(late.pk)]
    assert ids("billable=false") == [str(morning.pk)]
    assert ids("tags=red") == [str(late.pk), str(morning.pk)]
    assert ids("tags=blue,green") == [str(late.pk)]
    body = expect(manager.get("/api/v1/time-entries/?from=yesterday"), 400, "invalid")
    assert "from" in body["fields"]


def test_list_query_count_does_not_grow(in_tenant, manager, django_assert_max_num_queries):
    uid = manager.user.pk
    for _ in range(3):
        task_project = ProjectFactory()
        TimeEntryFactory(
            user_id=uid,
            project=task_project,
            task=Task.objects.create(project=task_project, title="t"),
        )
    manager.get("/api/v1/time-entries/")  # warm caches (tenant, membership)
    with django_assert_max_num_queries(8) as few:
        expect(manager.get("/api/v1/time-entries/"), 200)
    for _ in range(20):
        task_project = ProjectFactory()
        TimeEntryFactory(
            user_id=uid,
            project=task_project,
            task=Task.objects.create(project=task_project, title="t"),
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(expect(manager.get("/api/v1/time-entries/"), 200)["results"]) == 23


def test_duplicate_places_the_copy_after_the_original(member):
    entry = TimeEntryFactory(user_id=member.user.pk, started_at=DAY, tags=["t"])
    body = expect(
        member.post(f"/api/v1/time-entries/{entry.pk}/duplicate/", {}, format="json"), 201
    )
    assert body["started_at"] == "2026-11-03T01:00:00Z"
    assert body["ended_at"] == "2026-11-03T02:00:00Z"
    assert (body["description"], body["tags"], body["project"]) == (
        entry.description,
        ["t"],
        str(entry.project_id),
    )
    running = TimeEntryFactory(
        user_id=member.user.pk, running=True, started_at=DAY + datetime.timedelta(hours=5)
    )
    expect(
        member.post(f"/api/v1/time-entries/{running.pk}/duplicate/", {}, format="json"),
        400,
        "entry_running",
    )


def test_bulk_update_is_all_or_nothing(in_tenant, member):
    project = ProjectFactory(hourly_rate=Decimal("10.00"))
    target = ProjectFactory(hourly_rate=Decimal("20.00"))
    mine = [
        TimeEntryFactory(user_id=member.user.pk, project=project, tags=["old", "keep"])
        for _ in range(3)
    ]
    theirs = TimeEntryFactory(user_id=client_as(in_tenant, "member").user.pk)
    ids = [str(e.pk) for e in mine]
    before = list(TimeEntry.objects.order_by("pk").values())

    body = expect(
        member.post(
            "/api/v1/time-entries/bulk/",
            {"ids": [*ids, str(theirs.pk)], "set": {"billable": False}},
            format="json",
        ),
        400,
        "does_not_exist",
    )
    assert body["missing"] == [str(theirs.pk)]
    assert list(TimeEntry.objects.order_by("pk").values()) == before

    body = expect(
        member.post(
            "/api/v1/time-entries/bulk/",
            {
                "ids": ids,
                "set": {"project": str(target.pk), "add_tags": ["new"], "remove_tags": ["OLD"]},
            },
            format="json",
        ),
        200,
    )
    assert body["updated"] == 3
    for entry in TimeEntry.objects.filter(pk__in=ids):
        assert (entry.project_id, entry.tags, entry.hourly_rate, entry.amount) == (
            target.pk,
            ["keep", "new"],
            Decimal("20.00"),
            Decimal("20.00"),
        )


def test_bulk_delete(member, emitted):
    entries = [TimeEntryFactory(user_id=member.user.pk) for _ in range(2)]
    with emitted() as events:
        body = expect(
            member.post(
                "/api/v1/time-entries/bulk/",
                {"ids": [str(e.pk) for e in entries], "delete": True},
                format="json",
            ),
            200,
        )
    assert body == {"deleted": 2}
    assert not TimeEntry.objects.exists()
    assert [(e.type, e.op) for e in events] == [("time_entry", "bulk_deleted")]


def test_bulk_input_errors(member):
    entry = TimeEntryFactory(user_id=member.user.pk)
    expect(member.post("/api/v1/time-entries/bulk/", {"ids": [str(entry.pk)]}, format="json"), 400)
    expect(
        member.post("/api/v1/time-entries/bulk/", {"ids": [], "delete": True}, format="json"), 400
    )
    expect(
        member.post(
            "/api/v1/time-entries/bulk/",
            {"ids": [str(entry.pk)], "set": {"tags": ["a"], "add_tags": ["b"]}},
            format="json",
        ),
        400,
    )


def test_patching_the_end_of_a_running_entry_stops_it(member, emitted):
    entry = TimeEntryFactory(user_id=member.user.pk, running=True, started_at=DAY)
    with emitted() as events:
        body = expect(
            member.patch(f"/api/v1/time-entries/{entry.pk}/", {"ended_at": at(2)}, format="json"),
            200,
        )
    assert (body["is_running"], body["duration_seconds"]) == (False, 7200)
    assert [(e.type, e.op) for e in events] == [("time_entry", "updated"), ("timer", "stopped")]


def test_deleting_the_running_entry_tells_the_timer(member, emitted):
    entry = TimeEntryFactory(user_id=member.user.pk, running=True, started_at=DAY)
    with emitted() as events:
        expect(member.delete(f"/api/v1/time-entries/{entry.pk}/"), 204)
    assert [(e.type, e.op) for e in events] == [("time_entry", "deleted"), ("timer", "deleted")]
    assert expect(member.get("/api/v1/timer/"), 200) is None


def test_managers_bulk_edit_across_users(in_tenant, manager, emitted):
    project = ProjectFactory()
    task = Task.objects.create(project=project, title="Shared")
    users = [client_as(in_tenant, "member").user.pk for _ in range(2)]
    entries = [TimeEntryFactory(user_id=uid, project=project) for uid in users]
    with emitted() as events:
        expect(
            manager.post(
                "/api/v1/time-entries/bulk/",
                {
                    "ids": [str(e.pk) for e in entries],
                    "set": {"task": str(task.pk), "billable": False, "tags": ["x"]},
                },
                format="json",
            ),
            200,
        )
    rows = sorted(TimeEntry.objects.values_list("user_id", "task_id", "billable", "tags"), key=str)
    assert rows == sorted(((uid, task.pk, False, ["x"]) for uid in users), key=str)
    # One event per user, each to that user only.
    assert sorted(e.user_ids for e in events) == sorted((str(uid),) for uid in users)
    other_task = Task.objects.create(project=ProjectFactory(), title="Elsewhere")
    expect(
        manager.post(
            "/api/v1/time-entries/bulk/",
            {"ids": [str(entries[0].pk)], "set": {"task": str(other_task.pk)}},
            format="json",
        ),
        400,
        "task_project_mismatch",
    )


def test_create_emits_to_the_user_only(member, emitted):
    with emitted() as events:
        body = expect(
            member.post("/api/v1/time-entries/", _entry(ProjectFactory(), 9, 10), format="json"),
            201,
        )
    assert [(e.type, e.op, e.user_ids, e.data["id"]) for e in events] == [
        ("time_entry", "created", (str(member.user.pk),), body["id"])
    ]
    assert "amount" not in events[0].data and "hourly_rate" not in events[0].data


# --- tags: one rule (services.normalize_tags), one code per refusal, every path -------

TWENTY = [f"t{i}" for i in range(MAX_TAGS)]
TOO_LONG = "x" * (MAX_TAG_LENGTH + 1)


def _tag_error(code: str, field: str = "tags") -> dict[str, Any]:
    """The whole 400 body: the service's code and message, ``fields`` naming the input."""
    message = {
        "too_many_tags": f"At most {MAX_TAGS} tags.",
        "tag_too_long": f"Tags have at most {MAX_TAG_LENGTH} characters "
        f"({MAX_TAG_LENGTH + 1} given).",
    }[code]
    return {"code": code, "message": message, "fields": {field: [message]}}


BAD_TAGS = [
    pytest.param([*TWENTY, "one too many"], "too_many_tags", id="21-distinct"),
    pytest.param(["ok", TOO_LONG], "tag_too_long", id="61-chars"),
    pytest.param([*TWENTY, TOO_LONG], "tag_too_long", id="both-long-wins"),
]


def test_the_tag_rule_itself():
    assert normalize_tags([" a ", "A", "", "b", "  ", "a"]) == ["a", "b"]
    padded = f"  {'y' * MAX_TAG_LENGTH}  "  # trimmed before counting: not too long
    assert normalize_tags([padded]) == ["y" * MAX_TAG_LENGTH]
    assert normalize_tags([*TWENTY, "T0", "t1 "]) == TWENTY  # 20 distinct
    for tags, code in [([*TWENTY, "x"], "too_many_tags"), ([TOO_LONG], "tag_too_long")]:
        with pytest.raises(ApplicationError) as caught:
            normalize_tags(tags, field="add_tags")
        assert (caught.value.code, list(caught.value.extra["fields"])) == (code, ["add_tags"])


@pytest.mark.parametrize(("tags", "code"), BAD_TAGS)
def test_create_refuses_bad_tags_with_the_service_code(member, tags, code):
    body = expect(
        member.post(
            "/api/v1/time-entries/", _entry(ProjectFactory(), 9, 10, tags=tags), format="json"
        ),
        400,
    )
    assert body == _tag_error(code)
    assert not TimeEntry.objects.exists()


def test_create_counts_distinct_tags_like_the_service(member):
    """21 tags that are 20 case-insensitively: accepted (first spelling kept);
    a 60-character tag is kept whole."""
    full = "z" * MAX_TAG_LENGTH
    body = expect(
        member.post(
            "/api/v1/time-entries/",
            _entry(ProjectFactory(), 9, 10, tags=[*TWENTY[:-1], full, "T0"]),
            format="json",
        ),
        201,
    )
    assert body["tags"] == [*TWENTY[:-1], full]
    assert TimeEntry.objects.get().tags == [*TWENTY[:-1], full]


@pytest.mark.parametrize(("tags", "code"), BAD_TAGS)
def test_update_refuses_bad_tags_with_the_service_code(member, tags, code):
    entry = TimeEntryFactory(user_id=member.user.pk, started_at=DAY, tags=["keep"])
    body = expect(
        member.patch(f"/api/v1/time-entries/{entry.pk}/", {"tags": tags}, format="json"), 400
    )
    assert body == _tag_error(code)
    entry.refresh_from_db()
    assert entry.tags == ["keep"]


def test_update_counts_distinct_tags_like_the_service(member):
    entry = TimeEntryFactory(user_id=member.user.pk, started_at=DAY)
    body = expect(
        member.patch(f"/api/v1/time-entries/{entry.pk}/", {"tags": [*TWENTY, "T0"]}, format="json"),
        200,
    )
    assert body["tags"] == TWENTY


@pytest.mark.parametrize("key", ["tags", "add_tags", "remove_tags"])
@pytest.mark.parametrize(("tags", "code"), BAD_TAGS)
def test_bulk_edit_refuses_bad_tags_with_the_service_code(member, key, tags, code):
    entries = [TimeEntryFactory(user_id=member.user.pk, tags=["keep"]) for _ in range(2)]
    before = list(TimeEntry.objects.order_by("pk").values())
    body = expect(
        member.post(
            "/api/v1/time-entries/bulk/",
            {"ids": [str(e.pk) for e in entries], "set": {key: tags}},
            format="json",
        ),
        400,
    )
    assert body == _tag_error(code, key)
    assert list(TimeEntry.objects.order_by("pk").values()) == before


def test_bulk_add_tags_over_the_limit_once_merged_is_too_many_tags(member):
    """The merged list is checked by the same rule: existing + added over
    MAX_TAGS distinct → ``too_many_tags``, all or nothing; case duplicates of
    existing tags do not count."""
    full = TimeEntryFactory(user_id=member.user.pk, tags=TWENTY[:-1])
    light = TimeEntryFactory(user_id=member.user.pk, tags=["a"])
    ids = [str(full.pk), str(light.pk)]
    body = expect(
        member.post(
            "/api/v1/time-entries/bulk/",
            {"ids": ids, "set": {"add_tags": ["new", "newer"]}},
            format="json",
        ),
        400,
    )
    assert body == _tag_error("too_many_tags")
    assert sorted(len(e.tags) for e in TimeEntry.objects.all()) == [1, MAX_TAGS - 1]

    expect(
        member.post(
            "/api/v1/time-entries/bulk/",
            {"ids": ids, "set": {"add_tags": ["new", "T0", "NEW"]}},
            format="json",
        ),
        200,
    )
    full.refresh_from_db()
    light.refresh_from_db()
    assert (full.tags, light.tags) == ([*TWENTY[:-1], "new"], ["a", "new", "T0"])
