"""``tenants seed-demo`` adds its members through the membership service: the
seats billing counts (and the billing page shows) are the members, after the
first run and after any re-run. And a visitor finds real-looking activity:
weeks of entries, tasks, a sheet waiting for the manager, a conversation."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django_tenants.utils import tenant_context

from apps.billing.models import Subscription
from apps.billing.services import billable_members
from apps.chat.models import Channel, ChannelMember, Message
from apps.common.testing import expect
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from apps.organizations.constants import MembershipStatus
from apps.organizations.demo import DEMO_USERS
from apps.organizations.models import Membership
from apps.organizations.signals import membership_changed
from apps.organizations.tests.factories import client_as
from apps.projects.models import Client, Project, ProjectMember
from apps.tasks.models import Task, TaskAssignee
from apps.time_entries.models import TimeEntry
from apps.timesheets.approvers import timesheet_approver_ids
from apps.timesheets.models import Timesheet, TimesheetEvent
from apps.timesheets.services import timesheet_approve
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def seed(commit: Any) -> None:
    """Run the command and its after-commit work (signals, seat sync)."""
    with commit():
        call_command("tenants", "seed-demo", stdout=io.StringIO())


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Any:
    return lambda: django_capture_on_commit_callbacks(execute=True)


def owner_sees(tenant: Any) -> dict[str, Any]:
    owner = Membership.objects.get(organization=tenant, user__email="owner@acme.test")
    return expect(client_as(tenant, owner).get("/api/v1/billing/"), 200)


def test_seeded_demo_has_one_seat_per_member(tenant, commit):
    seed(commit)

    members = Membership.objects.filter(organization=tenant, status=MembershipStatus.ACTIVE)
    assert members.count() == len(DEMO_USERS) == 8
    assert Subscription.objects.get(organization=tenant).seats == 8
    billing = owner_sees(tenant)
    assert billing["subscription"]["seats"] == 8
    assert billing["usage"]["members"] == 8


def test_reseeding_keeps_seats_equal_to_members(tenant, commit):
    seed(commit)
    deactivated = Membership.objects.get(organization=tenant, user__email="member@acme.test")
    deactivated.status = MembershipStatus.DEACTIVATED
    deactivated.save(update_fields=["status"])
    Membership.objects.filter(organization=tenant, user__email="manager@acme.test").update(
        role="viewer"
    )

    seed(commit)  # puts both back as the demo has them

    assert Membership.objects.filter(organization=tenant).count() == 8
    assert dict(
        Membership.objects.filter(organization=tenant).values_list("user__email", "role")
    ) == {email: role for email, _, _, role in DEMO_USERS}
    assert Subscription.objects.get(organization=tenant).seats == billable_members(tenant.pk) == 8


def test_reseeding_an_unchanged_demo_sends_no_membership_signal(tenant, commit):
    seed(commit)
    sent: list[dict[str, Any]] = []

    def listen(sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs)

    membership_changed.connect(listen)
    try:
        seed(commit)
    finally:
        membership_changed.disconnect(listen)

    assert sent == []
    assert Subscription.objects.get(organization=tenant).seats == 8


# --- the activity a visitor clicks through ---------------------------------------

# A Thursday afternoon in Berlin; acme's periods are weeks starting Monday.
NOW = datetime.datetime(2026, 11, 26, 14, 0, tzinfo=datetime.UTC)


def _member(tenant: Any, email: str) -> Membership:
    return Membership.objects.select_related("user", "organization").get(
        organization=tenant, user__email=email
    )


def _signed_in(tenant: Any, membership: Membership) -> TenantAPIClient:
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    client.force_login(membership.user)
    session = client.session
    session[SESSION_ORGANIZATION_KEY] = str(tenant.pk)
    session.save()
    return client


def _activity_counts(tenant: Any) -> dict[str, int]:
    with tenant_context(tenant):
        return {
            "project_members": ProjectMember.objects.count(),
            "tasks": Task.objects.count(),
            "assignees": TaskAssignee.objects.count(),
            "entries": TimeEntry.all_objects.count(),
            "timesheets": Timesheet.objects.count(),
            "events": TimesheetEvent.objects.count(),
            "channels": Channel.objects.count(),
            "channel_members": ChannelMember.objects.count(),
            "messages": Message.all_objects.count(),
        }


def test_demo_has_weeks_of_entries_tasks_and_a_conversation(tenant, commit):
    with time_machine.travel(NOW, tick=False):
        seed(commit)

    members = {m.user.email: m for m in Membership.objects.filter(organization=tenant)}
    with tenant_context(tenant):
        assert {status for (status,) in Task.objects.values_list("status")} >= {
            "backlog",
            "todo",
            "in_progress",
            "in_review",
            "done",
        }
        assert Project.objects.count() == 5
        assert Client.objects.count() == 3
        entries = list(TimeEntry.objects.all())
        by_user: dict[Any, set[datetime.date]] = {}
        for entry in entries:
            local = entry.started_at.astimezone(BERLIN)
            by_user.setdefault(entry.user_id, set()).add(local.date())
            assert local.weekday() < 5, "entries on working days only"
            assert entry.ended_at <= NOW and entry.description
            assert entry.duration_seconds == (entry.ended_at - entry.started_at).total_seconds()
            if entry.project.billable:
                assert entry.amount == (entry.hourly_rate * entry.duration_seconds / 3600).quantize(
                    Decimal("0.01")
                )
        assert set(by_user) == {m.user_id for m in members.values()}
        # From the Monday three weeks before this week's Monday to today.
        first = datetime.date(2026, 11, 2)
        assert all(min(days) == first for days in by_user.values())
        assert all(len(days) == 19 for days in by_user.values())  # 3 weeks + Mon..Thu
        assert len({e.description for e in entries}) >= 15

        messages = list(Message.objects.order_by("created_at"))
        assert len(messages) == 15
        assert len({m.author_id for m in messages}) >= 6
        assert ChannelMember.objects.filter(channel=messages[0].channel).count() == 8
        assert all(m.created_at <= NOW for m in messages)
        mia = members["member@acme.test"].user_id
        marker = ChannelMember.objects.get(channel=messages[0].channel, user_id=mia)
        assert marker.last_read_message == [m for m in messages if m.author_id == mia][-1]
        assert marker.last_read_message != messages[-1]  # she has unread messages


def test_the_submitted_sheet_waits_for_the_manager_who_may_approve_it(tenant, commit):
    with time_machine.travel(NOW, tick=False):
        seed(commit)
        mia = _member(tenant, "member@acme.test")
        manager = _member(tenant, "manager@acme.test")
        with tenant_context(tenant):
            sheet = Timesheet.objects.get(status="submitted")
            assert sheet.user_id == mia.user_id
            assert sheet.period_start == datetime.date(2026, 11, 16)  # last week
            assert TimeEntry.objects.filter(timesheet=sheet).count() > 5
            assert str(manager.user_id) in timesheet_approver_ids(user_id=mia.user_id)
        # ... and his Approvals page offers it.
        page = _signed_in(tenant, manager).get(f"/timesheets/approvals/{sheet.pk}/")
        assert page.status_code == 200
        assert "Mia Member" in page.content.decode()
        assert "Approve" in page.content.decode()
        with tenant_context(tenant):
            # The week before is approved for the members, by the manager.
            approved = Timesheet.objects.filter(status="approved")
            assert approved.count() == 6
            assert {s.decided_by_id for s in approved} == {manager.user_id}

            timesheet_approve(timesheet=sheet, actor=manager)

            sheet.refresh_from_db()
            assert sheet.status == "approved"
            assert sheet.approved_total_seconds > 0


def test_seeding_again_later_adds_nothing(tenant, commit):
    with time_machine.travel(NOW, tick=False):
        seed(commit)
    first = _activity_counts(tenant)
    assert first["entries"] > 300

    with time_machine.travel(NOW + datetime.timedelta(days=4), tick=False):
        seed(commit)

    assert _activity_counts(tenant) == first
