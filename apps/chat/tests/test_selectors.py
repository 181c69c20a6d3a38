"""Chat selectors: who may see a channel, checked for many users at once.

``users_who_may_see`` answers for the mentions of a message; it must agree
with ``channel_get_for_member`` (the rule every request goes through) for
each kind of channel and role, and cost the same number of queries whatever
the number of mentioned users.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.chat import selectors
from apps.organizations.constants import MembershipStatus
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.models import ProjectMember
from apps.projects.tests.factories import ProjectFactory

from .factories import ChannelFactory, ChannelMemberFactory

pytestmark = pytest.mark.django_db


def _sees_by_the_request_rule(membership: Any, channel: Any) -> bool:
    """The reference: what a request by ``membership`` would be answered."""
    return selectors.channels_visible_to(actor=membership).filter(pk=channel.pk).exists()


def test_users_who_may_see_agrees_with_the_request_rule(in_tenant, tenant, other_tenant):
    people = {
        "viewer": MembershipFactory(organization=tenant, role="viewer"),
        "member": MembershipFactory(organization=tenant, role="member"),
        "insider": MembershipFactory(organization=tenant, role="member"),
        "manager": MembershipFactory(organization=tenant, role="manager"),
        "admin": MembershipFactory(organization=tenant, role="admin"),
        "gone": MembershipFactory(
            organization=tenant, role="admin", status=MembershipStatus.DEACTIVATED
        ),
    }
    stranger = MembershipFactory(organization=other_tenant, role="owner")  # another organization
    insider, member = people["insider"], people["member"]

    private_project = ProjectFactory(name="Secret", is_private=True)
    public_project = ProjectFactory(name="Open", is_private=False)
    deleted_project = ProjectFactory(name="Gone", is_private=False)
    for project in (private_project, deleted_project):
        ProjectMember.objects.create(project=project, user_id=insider.user_id)
    channels = {
        "public": ChannelFactory(kind="public"),
        "private": ChannelFactory(kind="private"),
        "direct": ChannelFactory(
            kind="direct", name="", direct_key=f"{insider.user_id}:{member.user_id}"
        ),
        "private project": ChannelFactory(kind="project", project=private_project),
        "public project": ChannelFactory(kind="project", project=public_project),
        "deleted project": ChannelFactory(kind="project", project=deleted_project),
        "deleted channel": ChannelFactory(kind="public"),
    }
    ChannelMemberFactory(channel=channels["private"], user_id=insider.user_id)
    ChannelMemberFactory(channel=channels["private"], user_id=people["gone"].user_id)
    for who in (insider, member):
        ChannelMemberFactory(channel=channels["direct"], user_id=who.user_id)
    deleted_project.soft_delete()
    channels["deleted channel"].soft_delete()

    everyone = [m.user_id for m in people.values()] + [stranger.user_id]
    active = ["viewer", "member", "insider", "manager", "admin"]
    expected = {
        "public": set(active),
        "private": {"insider"},
        "direct": {"insider", "member"},
        "private project": {"insider", "manager", "admin"},
        "public project": set(active),
        "deleted project": set(),
        "deleted channel": set(),
    }
    for kind, channel in channels.items():
        seen = selectors.users_who_may_see(
            channel=channel, organization_id=tenant.pk, user_ids=everyone
        )
        by_rule = {
            m.user_id
            for name, m in people.items()
            if name in active and _sees_by_the_request_rule(m, channel)
        }
        assert seen == by_rule, kind
        assert seen == {people[name].user_id for name in expected[kind]}, kind


@pytest.mark.parametrize("kind", ["public", "private", "project"])
def test_users_who_may_see_costs_the_same_for_1_or_10_users(in_tenant, tenant, kind):
    project = ProjectFactory(is_private=True) if kind == "project" else None
    channel = ChannelFactory(kind=kind, project=project)
    users = [
        MembershipFactory(organization=tenant, role="manager" if i % 2 else "member")
        for i in range(10)
    ]
    for i, who in enumerate(users):
        if i % 3 == 0:
            ChannelMemberFactory(channel=channel, user_id=who.user_id)
            if project is not None:
                ProjectMember.objects.create(project=project, user_id=who.user_id)

    def count(ids: list[Any]) -> tuple[int, set[Any]]:
        with CaptureQueriesContext(connection) as queries:
            seen = selectors.users_who_may_see(
                channel=channel, organization_id=tenant.pk, user_ids=ids
            )
        return len(queries), seen

    one, _ = count([users[0].user_id])
    ten, seen = count([u.user_id for u in users])
    assert one == ten == 1
    assert seen == {u.user_id for u in users if _sees_by_the_request_rule(u, channel)}
    assert seen  # the comparison above is not between two empty sets
