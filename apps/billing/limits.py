"""Plan limits, checked by the services that create what a plan limits.

``check_limit`` is called inside the caller's transaction, right before it
creates a member or a project. It locks the organization's subscription row
(``SELECT … FOR UPDATE``) before counting, so two concurrent creations in one
organization serialise and the second sees the first: a Free organization
cannot end up with 4 members because two invitations were accepted at once.

An organization without a subscription row (created by an operator before
billing existed, or the test session's organizations) is not limited.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction

from apps.common.errors import PaymentRequiredError

from .constants import LIMITS
from .models import Subscription
from .services import billable_members


class PlanLimitReachedError(PaymentRequiredError):
    code = "plan_limit_reached"


def check_limit(
    *,
    organization_id: uuid.UUID | str,
    limit: str,
    count: Callable[[], int] | None = None,
    adding: int = 1,
) -> None:
    """Raise 402 ``plan_limit_reached`` if adding ``adding`` more ``limit``
    ("members" | "projects") would exceed the organization's plan.

    ``count`` returns the current number (evaluated after the lock); for
    members it defaults to the organization's active memberships.
    """
    if limit not in LIMITS:
        raise ValueError(f"unknown plan limit {limit!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("check_limit() must run inside the creating transaction")
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(organization_id=organization_id)
        .first()
    )
    if subscription is None:
        return
    maximum = subscription.plan.limit(limit)
    if maximum is None:
        return
    current = count() if count is not None else billable_members(organization_id)
    if current + adding > maximum:
        raise PlanLimitReachedError(
            f"The {subscription.plan.name} plan allows {maximum} {limit}: upgrade to add more.",
            extra={"limit": limit, "max": maximum, "plan": subscription.plan.code},
        )
