"""``time_tracking_members``: whose time team insights, team summaries and
missing-day reminders are about (one definition for the three)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine
from django_tenants.utils import tenant_context

from apps.ai_services import automation
from apps.ai_services.selectors import TIME_TRACKING_ROLES, time_tracking_members
from apps.organizations.constants import MembershipStatus, Role

from .factories import RuleFactory, member_of

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def _local(day: int, hour: int) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, 0, tzinfo=BERLIN)


def _user_ids() -> set:
    return set(time_tracking_members().values_list("user_id", flat=True))


def test_time_tracking_roles_follow_the_permission_table():
    # ``time.track`` is member and up; viewers cannot track time.
    assert set(TIME_TRACKING_ROLES) == {Role.OWNER, Role.ADMIN, Role.MANAGER, Role.MEMBER}


def test_active_members_of_this_organization_whose_role_tracks_time(tenant, other_tenant):
    with tenant_context(other_tenant):
        foreign = member_of(other_tenant)  # a tracker, but of another organization
    with tenant_context(tenant):
        before = _user_ids()
        trackers = [member_of(tenant, role=role) for role in ("owner", "admin", "manager")]
        trackers.append(member_of(tenant))  # role "member"
        viewer = member_of(tenant, role="viewer")
        gone = member_of(tenant, status=MembershipStatus.DEACTIVATED)
        # Tracks time in the other organization, only views here.
        member_of(other_tenant, user=viewer.user)

        added = _user_ids() - before

    assert added == {m.user_id for m in trackers}
    assert viewer.user_id not in added
    assert gone.user_id not in added
    assert foreign.user_id not in added


def test_one_query_whatever_the_number_of_members(in_tenant, django_assert_num_queries):
    for _ in range(5):
        member_of(in_tenant)
    member_of(in_tenant, role="viewer")

    with django_assert_num_queries(1):
        rows = list(time_tracking_members())

    assert len(rows) >= 5


@time_machine.travel(_local(26, 12), tick=False)  # a Thursday
def test_reminder_batch_counts_only_people_who_track_time(in_tenant, monkeypatch):
    """The role is filtered before the batch slice: members who cannot track
    time never take the places of those who can."""
    # Memberships are ordered by ``joined_at``: those who cannot track time
    # come first, so a slice taken before the role filter would miss the tracker.
    for _ in range(3):
        member_of(in_tenant, role="viewer", joined_at=_local(1, 9))
        member_of(in_tenant, status=MembershipStatus.DEACTIVATED, joined_at=_local(1, 9))
    tracker = member_of(in_tenant, joined_at=_local(2, 9))
    already = set(time_tracking_members().exclude(pk=tracker.pk).values_list("user_id", flat=True))
    monkeypatch.setattr(automation, "RUN_BATCH", len(already) + 1)
    rule = RuleFactory(kind="remind_missing_days", params={"lookback_days": 3})

    run = automation.rule_run(rule)

    assert str(tracker.user_id) in run.details["reminded"]
