"""Tenant isolation: one user who is a member of two organizations sees, on
each host, only that organization's entries, timer and idle periods; ids of
the other organization behave as unknown."""

from __future__ import annotations

import datetime

import pytest
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Task
from apps.time_entries.models import IdlePeriod, TimeEntry

from .factories import IdlePeriodFactory, TimeEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def both(tenant, other_tenant):
    """The same user, a member of acme and of globex, with a client per host."""
    user = UserFactory()
    acme = client_as(tenant, MembershipFactory(user=user, organization=tenant, role="manager"))
    globex = client_as(
        other_tenant, MembershipFactory(user=user, organization=other_tenant, role="manager")
    )
    with tenant_context(other_tenant):
        theirs = TimeEntryFactory(user_id=user.pk)
        running = TimeEntryFactory(
            user_id=user.pk, running=True, started_at=datetime.datetime.now(datetime.UTC)
        )
        idle = IdlePeriodFactory(entry=running)
        globex_project = ProjectFactory()
        globex_task = Task.objects.create(project=globex_project, title="Globex only")
    with tenant_context(tenant):
        ours = TimeEntryFactory(user_id=user.pk)
    return {
        "user": user,
        "acme": acme,
        "globex": globex,
        "theirs": theirs,
        "ours": ours,
        "idle": idle,
        "globex_project": globex_project,
        "globex_task": globex_task,
    }


def test_each_host_lists_its_own_entries(both):
    acme_ids = [e["id"] for e in expect(both["acme"].get("/api/v1/time-entries/"), 200)["results"]]
    assert acme_ids == [str(both["ours"].pk)]
    globex_ids = {
        e["id"] for e in expect(both["globex"].get("/api/v1/time-entries/"), 200)["results"]
    }
    assert str(both["ours"].pk) not in globex_ids and str(both["theirs"].pk) in globex_ids


def test_the_timer_belongs_to_the_host(both):
    assert expect(both["acme"].get("/api/v1/timer/"), 200) is None
    expect(both["acme"].post("/api/v1/timer/stop/"), 409, "no_running_timer")
    assert expect(both["globex"].get("/api/v1/timer/"), 200)["is_running"] is True


def test_other_tenants_ids_are_unknown(tenant, other_tenant, both):
    acme = both["acme"]
    url = f"/api/v1/time-entries/{both['theirs'].pk}/"
    expect(acme.get(url), 404)
    expect(acme.patch(url, {"description": "hijack"}, format="json"), 404)
    expect(acme.delete(url), 404)
    expect(acme.post(f"{url}duplicate/", {}, format="json"), 404)
    expect(acme.post(f"{url}continue/"), 404)
    expect(
        acme.post(
            "/api/v1/time-entries/bulk/",
            {"ids": [str(both["theirs"].pk)], "delete": True},
            format="json",
        ),
        400,
        "does_not_exist",
    )
    expect(
        acme.post(
            f"/api/v1/activity/idle-periods/{both['idle'].pk}/resolve/",
            {"action": "discard"},
            format="json",
        ),
        404,
    )
    assert expect(acme.get("/api/v1/activity/idle-periods/"), 200)["results"] == []
    expect(
        acme.post("/api/v1/timer/start/", {"project": str(both["globex_project"].pk)}),
        400,
        "does_not_exist",
    )
    with tenant_context(tenant):
        acme_project = ProjectFactory()
    for body in (
        {"project": str(acme_project.pk), "task": str(both["globex_task"].pk)},
        {
            "project": str(acme_project.pk),
            "task": str(both["globex_task"].pk),
            "started_at": "2026-11-02T09:00:00Z",
            "ended_at": "2026-11-02T10:00:00Z",
        },
    ):
        path = "/api/v1/timer/start/" if "started_at" not in body else "/api/v1/time-entries/"
        expect(acme.post(path, body, format="json"), 400, "does_not_exist")
    # The heartbeat on acme's host touches no globex timer.
    body = expect(
        acme.post(
            "/api/v1/activity/heartbeat/",
            {"last_input_at": datetime.datetime.now(datetime.UTC).isoformat()},
            format="json",
        ),
        200,
    )
    assert body["running"] is False
    with tenant_context(other_tenant):
        theirs = TimeEntry.objects.get(pk=both["theirs"].pk)
        assert theirs.deleted_at is None and theirs.description.startswith("Work")
        assert IdlePeriod.objects.get().resolution == "pending"
        assert TimeEntry.objects.get(ended_at__isnull=True).last_activity_at is None
    with tenant_context(tenant):
        assert list(TimeEntry.objects.values_list("pk", flat=True)) == [both["ours"].pk]


def test_a_member_of_one_organization_is_not_a_member_of_the_other(tenant, other_tenant):
    only_acme = client_as(tenant, "member")
    outsider = client_as(other_tenant, only_acme.membership)  # same user, globex host
    expect(outsider.get("/api/v1/time-entries/"), 403, "not_a_member")
    expect(outsider.post("/api/v1/timer/stop/"), 403, "not_a_member")


def test_a_locked_week_in_one_organization_does_not_lock_the_other(tenant, other_tenant, both):
    """The timer's lock checks ride in its INSERT and UPDATE, compiled once
    per process with unqualified table names: each runs against the host's
    own timesheets. The same user's submitted week in acme refuses acme's
    start and leaves globex's timer free to stop and start."""
    from apps.timesheets.models import Timesheet

    today = datetime.datetime.now(datetime.UTC).date()
    monday = today - datetime.timedelta(days=today.weekday())
    with tenant_context(tenant):
        Timesheet.objects.create(
            user_id=both["user"].pk,
            period_start=monday,
            period_end=monday + datetime.timedelta(days=6),
            status="submitted",
        )
        acme_project = ProjectFactory()
    expect(
        both["acme"].post("/api/v1/timer/start/", {"project": str(acme_project.pk)}, format="json"),
        409,
        "entry_locked",
    )
    body = {"project": str(both["globex_project"].pk)}
    expect(both["globex"].post("/api/v1/timer/start/", body, format="json"), 201)  # stops one
    expect(both["globex"].post("/api/v1/timer/stop/", {}, format="json"), 200)
    with tenant_context(tenant):
        assert not TimeEntry.all_objects.filter(project=acme_project).exists()
