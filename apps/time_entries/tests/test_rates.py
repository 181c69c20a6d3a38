"""Rate changes recompute the snapshotted amounts of unlocked entries, in a
Celery task after commit, idempotently."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest

from apps.common.testing import expect
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory
from apps.time_entries import hot_path, rates
from apps.time_entries.models import TimeEntry
from apps.time_entries.tasks import recompute_amounts
from apps.timesheets.models import Timesheet

from .factories import TimeEntryFactory

pytestmark = pytest.mark.django_db

WEEK1 = datetime.datetime(2026, 11, 2, 9, tzinfo=datetime.UTC)  # Monday
WEEK2 = WEEK1 + datetime.timedelta(days=7)


def _entry(user_id, project, start, minutes=90, **kw):
    return TimeEntryFactory(
        user_id=user_id,
        project=project,
        started_at=start,
        ended_at=start + datetime.timedelta(minutes=minutes),
        hourly_rate=project.hourly_rate,
        amount=(project.hourly_rate or 0) * Decimal(minutes) / 60,
        **kw,
    )


@pytest.mark.parametrize(
    ("rate", "seconds", "billable", "amount"),
    [
        (Decimal("100.00"), 3600, True, Decimal("100.00")),
        (Decimal("100.00"), 1234, True, Decimal("34.28")),
        (Decimal("0.10"), 18, True, Decimal("0.00")),  # 0.0005 → 0.00
        (Decimal("1.00"), 18, True, Decimal("0.01")),  # 0.005 → 0.01 (half up)
        (Decimal("100.00"), 3600, False, Decimal("0.00")),
        (None, 3600, True, None),
        (Decimal("100.00"), None, True, None),
    ],
)
def test_compute_amount(rate, seconds, billable, amount):
    assert rates.compute_amount(rate=rate, duration_seconds=seconds, billable=billable) == amount


def test_recompute_skips_locked_entries_and_is_idempotent(in_tenant):
    member = client_as(in_tenant, "member")
    uid = member.user.pk
    project = ProjectFactory(hourly_rate=Decimal("10.00"))
    locked = _entry(uid, project, WEEK1)
    free = _entry(uid, project, WEEK2)
    other = _entry(client_as(in_tenant, "member").user.pk, project, WEEK1)
    nonbillable = _entry(uid, project, WEEK2 + datetime.timedelta(hours=3), billable=False)
    Timesheet.objects.create(
        user_id=uid,
        period_start=datetime.date(2026, 11, 2),
        period_end=datetime.date(2026, 11, 8),
        status="approved",
    )
    project.hourly_rate = Decimal("20.00")
    project.save()

    assert rates.recompute_amounts_for(project_id=project.pk) == 3
    assert rates.recompute_amounts_for(project_id=project.pk) == 0  # idempotent

    def money(entry):
        entry.refresh_from_db()
        return entry.hourly_rate, entry.amount

    assert money(locked) == (Decimal("10.00"), Decimal("15.00"))
    assert money(free) == (Decimal("20.00"), Decimal("30.00"))
    assert money(other) == (Decimal("20.00"), Decimal("30.00"))
    assert money(nonbillable) == (Decimal("20.00"), Decimal("0.00"))


def test_project_rate_change_recomputes_after_commit(in_tenant, eager_celery, commit):
    manager = client_as(in_tenant, "manager")
    project = ProjectFactory(hourly_rate=Decimal("10.00"))
    entry = _entry(manager.user.pk, project, WEEK2)

    with commit():
        expect(
            manager.patch(
                f"/api/v1/projects/{project.pk}/", {"hourly_rate": "40.00"}, format="json"
            ),
            200,
        )
        entry.refresh_from_db()
        assert entry.amount == Decimal("15.00")  # not before the commit

    entry.refresh_from_db()
    assert (entry.hourly_rate, entry.amount) == (Decimal("40.00"), Decimal("60.00"))


def test_project_member_rate_change_recomputes_that_member(in_tenant, eager_celery, commit):
    manager = client_as(in_tenant, "manager")
    member = client_as(in_tenant, "member")
    project = ProjectFactory(hourly_rate=Decimal("10.00"))
    theirs = _entry(member.user.pk, project, WEEK2)
    mine = _entry(manager.user.pk, project, WEEK2)

    with commit():
        expect(
            manager.post(
                f"/api/v1/projects/{project.pk}/members/",
                {"user": str(member.user.pk), "hourly_rate": "50.00"},
                format="json",
            ),
            201,
        )

    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.amount == Decimal("75.00")
    assert mine.amount == Decimal("15.00")


def test_member_default_rate_via_members_api(in_tenant, eager_celery, commit):
    admin = client_as(in_tenant, "admin")
    member = client_as(in_tenant, "member")
    project = ProjectFactory(hourly_rate=None)
    entry = _entry(member.user.pk, project, WEEK2)

    with commit():
        body = expect(
            admin.patch(
                f"/api/v1/members/{member.membership.pk}/",
                {"hourly_rate": "25.00", "weekly_expected_hours": "32.5"},
                format="json",
            ),
            200,
        )
    assert (body["hourly_rate"], body["weekly_expected_hours"]) == ("25.00", "32.50")
    entry.refresh_from_db()
    assert (entry.hourly_rate, entry.amount) == (Decimal("25.00"), Decimal("37.50"))

    # Members neither set nor see terms.
    expect(
        member.patch(
            f"/api/v1/members/{member.membership.pk}/", {"hourly_rate": "99"}, format="json"
        ),
        403,
    )
    own = expect(member.get(f"/api/v1/members/{member.membership.pk}/"), 200)
    assert "hourly_rate" not in own and "weekly_expected_hours" not in own
    rows = expect(member.get("/api/v1/members/"), 200)["results"]
    assert all("hourly_rate" not in row for row in rows)
    seen_by_manager = expect(
        client_as(in_tenant, "manager").get(f"/api/v1/members/{member.membership.pk}/"), 200
    )
    assert seen_by_manager["hourly_rate"] == "25.00"
    expect(
        admin.patch(
            f"/api/v1/members/{member.membership.pk}/", {"hourly_rate": "-1"}, format="json"
        ),
        400,
    )


def test_organization_default_rate_recomputes(in_tenant, eager_celery, commit):
    admin = client_as(in_tenant, "admin")
    project = ProjectFactory(hourly_rate=None)
    entry = _entry(admin.user.pk, project, WEEK2)
    with commit():
        expect(
            admin.patch("/api/v1/organization/", {"default_hourly_rate": "12.00"}, format="json"),
            200,
        )
    entry.refresh_from_db()
    assert (entry.hourly_rate, entry.amount) == (Decimal("12.00"), Decimal("18.00"))


def test_task_runs_in_the_schema_it_was_sent_for(tenant, other_tenant, eager_celery, commit):
    from django_tenants.utils import tenant_context

    with tenant_context(other_tenant):
        outsider_project = ProjectFactory(hourly_rate=Decimal("10.00"))
        theirs = _entry(client_as(other_tenant, "member").user.pk, outsider_project, WEEK2)
        outsider_project.hourly_rate = Decimal("99.00")
        outsider_project.save()
    with tenant_context(tenant):
        assert recompute_amounts.apply(headers={"_schema_name": tenant.schema_name}).get() == 0
    with tenant_context(other_tenant):
        theirs.refresh_from_db()
        assert theirs.hourly_rate == Decimal("10.00")
        assert TimeEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("member_rate", "project_rate", "default_rate", "org_rate", "expected"),
    [
        ("70.00", "100.00", "50.00", "30.00", "70.00"),  # project-member rate first
        (None, "100.00", "50.00", "30.00", "100.00"),  # then the project's
        (None, None, "50.00", "30.00", "50.00"),  # then the member's default
        (None, None, None, "30.00", "30.00"),  # then the organization's
        (None, None, None, None, None),  # none set
    ],
)
def test_rate_hierarchy_is_the_same_for_resolve_and_the_timer(
    in_tenant, member_rate, project_rate, default_rate, org_rate, expected
):
    """``resolve_rate`` (entries, recompute, import) and the timer's project
    query (rate loaded with the project) share ``rate_expression``."""
    from apps.projects.tests.factories import ProjectMemberFactory

    to_decimal = lambda v: Decimal(v) if v is not None else None  # noqa: E731
    type(in_tenant).objects.filter(pk=in_tenant.pk).update(default_hourly_rate=to_decimal(org_rate))
    in_tenant.refresh_from_db()
    member = client_as(in_tenant, "member")
    member.membership.hourly_rate = to_decimal(default_rate)
    member.membership.save(update_fields=["hourly_rate"])
    project = ProjectFactory(hourly_rate=to_decimal(project_rate))
    ProjectMemberFactory(
        project=project, user_id=member.user.pk, hourly_rate=to_decimal(member_rate)
    )

    assert rates.resolve_rate(user_id=member.user.pk, project=project) == to_decimal(expected)
    body = expect(
        member.post("/api/v1/timer/start/", {"project": str(project.pk)}, format="json"), 201
    )
    entry = TimeEntry.objects.get(pk=body["id"])
    assert entry.hourly_rate == to_decimal(expected)


@pytest.mark.parametrize("role", ["viewer", "member", "manager", "admin", "owner"])
def test_prepared_project_lookup_agrees_with_the_visibility_rule(in_tenant, role):
    """The timer's compiled project query (hot_path._TIMER_PROJECT) keeps
    exactly the projects ``visible_project_filter`` keeps, with the rate
    ``resolve_rate`` gives, for every role."""
    from apps.projects.models import Project
    from apps.projects.selectors import visible_project_filter
    from apps.projects.tests.factories import ProjectMemberFactory

    membership = client_as(in_tenant, role).membership
    public = ProjectFactory()
    private_in = ProjectFactory(is_private=True, hourly_rate=None)
    ProjectMemberFactory(
        project=private_in, user_id=membership.user_id, hourly_rate=Decimal("42.00")
    )
    private_out = ProjectFactory(is_private=True)
    for project in (public, private_in, private_out):
        visible = Project.objects.filter(visible_project_filter(membership), pk=project.pk)
        found = hot_path.timer_project_locked(membership, project.pk)
        assert (found is not None) == visible.exists(), (role, project)
        if found is not None:
            assert found.user_hourly_rate == rates.resolve_rate(
                user_id=membership.user_id, project=project
            )


def test_the_timer_project_query_takes_the_users_time_lock(in_tenant):
    """The lock taken by the project look-up of a timer start is
    ``user_time_lock``'s own: another session cannot take it until the
    transaction ends; an unknown project takes none."""
    from django.db import transaction

    from apps.time_entries.locking import user_time_lock_key
    from tenants.testing import advisory_lock_free_elsewhere

    membership = client_as(in_tenant, "member").membership
    project = ProjectFactory()
    with transaction.atomic():
        key = user_time_lock_key(membership.user_id)
        assert hot_path.timer_project_locked(membership, uuid.uuid4()) is None
        assert advisory_lock_free_elsewhere(key)
        assert hot_path.timer_project_locked(membership, project.pk) is not None
        assert not advisory_lock_free_elsewhere(key)
