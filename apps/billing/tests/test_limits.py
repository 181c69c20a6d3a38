"""Plan limits in the services (402 ``plan_limit_reached``) and feature flags."""

from __future__ import annotations

import pytest

from apps.billing.constants import SubscriptionStatus
from apps.billing.limits import PlanLimitReachedError, check_limit
from apps.billing.selectors import feature_enabled
from apps.common.testing import expect
from apps.organizations import services as org_services
from apps.organizations.models import Invitation, Membership
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.models import Project
from apps.projects.tests.factories import ProjectFactory
from tenants.testing import TenantAPIClient

from .conftest import make_subscription

pytestmark = pytest.mark.django_db

ACCEPT_URL = "/api/v1/invitations/accept/"


def _invite(tenant, email: str) -> str:
    owner = Membership.objects.filter(organization=tenant, role="owner").first()
    owner = owner or MembershipFactory(organization=tenant, role="owner")
    _, raw_token = org_services.invitation_create(actor=owner, email=email, role="member")
    return raw_token


def test_fourth_member_on_free_is_refused_at_invitation_acceptance(tenant):
    make_subscription(tenant, "free")
    MembershipFactory(organization=tenant, role="owner")
    MembershipFactory(organization=tenant, role="member")
    token = _invite(tenant, "third@example.com")
    expect(
        TenantAPIClient(None).post(
            ACCEPT_URL, {"token": token, "password": "plum tree 42 lantern"}, format="json"
        ),
        200,
    )
    token = _invite(tenant, "fourth@example.com")

    data = expect(
        TenantAPIClient(None).post(
            ACCEPT_URL, {"token": token, "password": "plum tree 42 lantern"}, format="json"
        ),
        402,
        "plan_limit_reached",
    )

    assert (data["limit"], data["max"], data["plan"]) == ("members", 3, "free")
    assert Membership.objects.filter(organization=tenant).count() == 3
    assert Invitation.objects.get(email="fourth@example.com").status == "pending"
    assert not Membership.objects.filter(user__email="fourth@example.com").exists()


def test_deactivated_members_do_not_count_and_cannot_come_back_over_the_limit(tenant):
    make_subscription(tenant, "free")
    MembershipFactory(organization=tenant, role="owner")
    MembershipFactory(organization=tenant, role="member", status="deactivated")
    MembershipFactory(organization=tenant, role="member")
    # 2 active: one more fits.
    check_limit_in_tx(tenant.pk, "members")
    MembershipFactory(organization=tenant, role="member")
    with pytest.raises(PlanLimitReachedError):
        check_limit_in_tx(tenant.pk, "members")


def check_limit_in_tx(org_id, limit, count=None):
    from django.db import transaction

    with transaction.atomic():
        check_limit(organization_id=org_id, limit=limit, count=count)


def test_sixth_project_on_free_is_402_and_nothing_is_created(tenant, in_tenant):
    make_subscription(tenant, "free")
    ProjectFactory.create_batch(4)
    ProjectFactory().soft_delete()  # a deleted project does not count
    client = client_as(tenant, "manager")
    expect(client.post("/api/v1/projects/", {"name": "Fifth"}, format="json"), 201)

    data = expect(
        client.post("/api/v1/projects/", {"name": "Sixth"}, format="json"),
        402,
        "plan_limit_reached",
    )

    assert (data["limit"], data["max"]) == ("projects", 5)
    assert not Project.objects.filter(name="Sixth").exists()
    assert Project.objects.count() == 5


def test_paid_plans_lift_the_project_and_member_limits(tenant, in_tenant):
    make_subscription(tenant, "pro")
    ProjectFactory.create_batch(5)
    MembershipFactory.create_batch(3, organization=tenant)
    client = client_as(tenant, "manager")
    expect(client.post("/api/v1/projects/", {"name": "Sixth"}, format="json"), 201)
    check_limit_in_tx(tenant.pk, "members")


def test_an_unmanaged_organization_has_no_limits(tenant, in_tenant):
    ProjectFactory.create_batch(5)
    client = client_as(tenant, "manager")
    expect(client.post("/api/v1/projects/", {"name": "Sixth"}, format="json"), 201)


def test_limits_are_per_organization(tenant, other_tenant, in_tenant):
    make_subscription(tenant, "pro")
    make_subscription(other_tenant, "free")
    MembershipFactory.create_batch(3, organization=other_tenant)
    ProjectFactory.create_batch(5)  # in acme
    check_limit_in_tx(tenant.pk, "members")
    check_limit_in_tx(tenant.pk, "projects", Project.objects.count)
    with pytest.raises(PlanLimitReachedError):
        check_limit_in_tx(other_tenant.pk, "members")


def test_an_unknown_limit_is_a_programming_error(tenant):
    with pytest.raises(ValueError):
        check_limit_in_tx(tenant.pk, "seats")


@pytest.mark.parametrize(
    ("plan", "status", "ai"),
    [
        ("free", SubscriptionStatus.ACTIVE, False),
        ("pro", SubscriptionStatus.TRIALING, True),
        ("pro", SubscriptionStatus.PAST_DUE, True),
        ("pro", SubscriptionStatus.UNPAID, False),
        ("business", SubscriptionStatus.CANCELLED, False),
        ("business", SubscriptionStatus.ACTIVE, True),
    ],
)
def test_feature_enabled_follows_plan_and_status(tenant, other_tenant, plan, status, ai):
    make_subscription(tenant, plan, status=status)
    assert feature_enabled(tenant, "ai") is ai
    assert feature_enabled(other_tenant, "ai") is True  # unmanaged
    assert feature_enabled(tenant, "sso") is (plan == "business" and ai)
    with pytest.raises(ValueError):
        feature_enabled(tenant, "teleport")


def test_concurrent_acceptances_cannot_overshoot_the_member_limit(tenant, django_db_blocker):
    """Free with 2 members; two invitees accept at the same moment on their own
    committed connections: the subscription row lock lets exactly one in."""
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connections

    from apps.billing.models import Subscription
    from apps.iam.tests.factories import UserFactory

    emails = ["race-owner@example.com", "race-member@example.com"]
    invitees = ["race-a@example.com", "race-b@example.com"]

    def in_thread(work):
        out: dict = {}

        def run():
            try:
                out["value"] = work()
            except Exception as exc:  # re-raised below
                out["error"] = exc
            finally:
                connections.close_all()

        t = threading.Thread(target=run)
        t.start()
        t.join(timeout=60)
        if "error" in out:
            raise out["error"]
        return out.get("value")

    def setup():
        make_subscription(tenant, "free")
        owner = MembershipFactory(
            organization=tenant, role="owner", user=UserFactory(email=emails[0])
        )
        MembershipFactory(organization=tenant, role="member", user=UserFactory(email=emails[1]))
        return [
            org_services.invitation_create(actor=owner, email=e, role="member")[1] for e in invitees
        ]

    def cleanup():
        Invitation.objects.filter(organization=tenant).delete()
        Membership.objects.filter(organization=tenant).delete()
        Subscription.objects.filter(organization=tenant).delete()
        get_user_model().objects.filter(email__in=emails + invitees).delete()

    outcomes: list[str] = []
    with django_db_blocker.unblock():
        try:
            tokens = in_thread(setup)
            barrier = threading.Barrier(2)

            def accept(token):
                try:
                    barrier.wait(timeout=10)
                    org_services.invitation_accept(raw_token=token, password="plum tree 42 lantern")
                    outcomes.append("joined")
                except PlanLimitReachedError:
                    outcomes.append("402")
                finally:
                    connections.close_all()

            threads = [threading.Thread(target=accept, args=(t,)) for t in tokens]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            members = in_thread(
                lambda: Membership.objects.filter(organization=tenant, status="active").count()
            )
        finally:
            in_thread(cleanup)

    assert sorted(outcomes) == ["402", "joined"]
    assert members == 3
