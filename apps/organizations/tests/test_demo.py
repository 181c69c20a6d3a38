"""``tenants seed-demo`` adds its members through the membership service: the
seats billing counts (and the billing page shows) are the members, after the
first run and after any re-run."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from apps.billing.models import Subscription
from apps.billing.services import billable_members
from apps.common.testing import expect
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.signals import membership_changed
from apps.organizations.tests.factories import client_as

pytestmark = pytest.mark.django_db


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
    assert members.count() == 3
    assert Subscription.objects.get(organization=tenant).seats == 3
    billing = owner_sees(tenant)
    assert billing["subscription"]["seats"] == 3
    assert billing["usage"]["members"] == 3


def test_reseeding_keeps_seats_equal_to_members(tenant, commit):
    seed(commit)
    deactivated = Membership.objects.get(organization=tenant, user__email="member@acme.test")
    deactivated.status = MembershipStatus.DEACTIVATED
    deactivated.save(update_fields=["status"])
    Membership.objects.filter(organization=tenant, user__email="manager@acme.test").update(
        role="viewer"
    )

    seed(commit)  # puts both back as the demo has them

    assert Membership.objects.filter(organization=tenant).count() == 3
    assert dict(
        Membership.objects.filter(organization=tenant).values_list("user__email", "role")
    ) == {"owner@acme.test": "owner", "manager@acme.test": "manager", "member@acme.test": "member"}
    assert Subscription.objects.get(organization=tenant).seats == billable_members(tenant.pk) == 3


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
    assert Subscription.objects.get(organization=tenant).seats == 3
