"""Reads for billing: plans, an organization's subscription and usage, feature
flags (``feature_enabled`` is what other apps call), and the read-only reason
the tenant middleware shows."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from apps.organizations.models import Organization

from .constants import FEATURES, SubscriptionStatus
from .models import Plan, Subscription
from .services import billable_members

#: Subscription states in which paid features stay on.
_FEATURE_STATUSES = frozenset(
    {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)


def plan_list() -> QuerySet[Plan]:
    return Plan.objects.all()


def subscription_for(*, organization: Organization) -> Subscription | None:
    return (
        Subscription.objects.select_related("plan").filter(organization_id=organization.pk).first()
    )


def feature_enabled(organization: Organization, feature: str) -> bool:
    """Whether ``organization``'s plan includes ``feature`` ("ai", "sso").

    One query. Organizations without a subscription row are unmanaged (not
    limited, see ``limits``): features on. A suspended (unpaid/cancelled)
    subscription switches paid features off.
    """
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}")
    subscription = subscription_for(organization=organization)
    if subscription is None:
        return True
    return subscription.status in _FEATURE_STATUSES and subscription.plan.has_feature(feature)


@dataclass(frozen=True)
class Usage:
    members: int
    projects: int


def usage_for(*, organization: Organization) -> Usage:
    """Members (public schema) and live projects (the organization's schema:
    the caller must be in it, as every request on its host is)."""
    from apps.projects.models import Project

    return Usage(members=billable_members(organization.pk), projects=Project.objects.count())


def read_only_reason(tenant: Organization) -> tuple[str, str] | None:
    """For the tenant middleware (``NOVATIME_TENANT_HOOKS["read_only_reason"]``):
    ``("subscription_inactive", message)`` when billing made ``tenant``
    read-only, else ``None`` (an operator's suspension keeps the default code)."""
    billing_blocked = Subscription.objects.filter(
        organization_id=tenant.pk,
        suspended_by_billing=True,
        status__in=[
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.UNPAID,
            SubscriptionStatus.CANCELLED,
        ],
    )
    if billing_blocked.exists():
        return (
            "subscription_inactive",
            "This organization's subscription is inactive: it is read-only until "
            "billing is settled (owners and admins: see /api/v1/billing/).",
        )
    return None
