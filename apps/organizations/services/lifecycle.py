"""An organization's status: an operator's suspension and its lifting.

A status change sends ``signals.organization_status_changed`` after commit
(the WebSocket server closes the sockets of an organization that became
read-only).
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import transaction

from apps.billing.models import Subscription
from apps.billing.services import organization_status_resync
from tenants.provisioning import TenantError, set_tenant_status

from ..constants import OrganizationStatus
from ..models import Organization
from ..signals import organization_status_changed_on_commit

logger = logging.getLogger(__name__)


#: Statuses an operator can suspend an organization from: the serving,
#: writable ones. Not template/pooled/provisioning rows (infrastructure), not
#: a cancelled organization (already read-only), not a suspended one.
SUSPENDABLE_STATUSES = frozenset(
    {OrganizationStatus.TRIALING, OrganizationStatus.ACTIVE, OrganizationStatus.PAST_DUE}
)


def _locked_for_status_change(
    organization_id: UUID,
) -> tuple[Organization, Subscription | None]:
    """The organization and its subscription, locked in billing's order
    (subscription first, as webhook processing takes them) so that an
    operator's action and a webhook never deadlock."""
    subscription = (
        Subscription.objects.select_for_update().filter(organization_id=organization_id).first()
    )
    organization = Organization.objects.select_for_update().filter(pk=organization_id).first()
    if organization is None:
        raise TenantError("No such organization.", code="not_found")
    return organization, subscription


def organization_suspend(*, organization_id: UUID) -> Organization:
    """An operator's suspension (``tenants suspend``, the admin action): the
    organization becomes read-only (writes get 402 ``organization_inactive``)
    and remembers the status it had, which :func:`organization_resume` restores.

    Refused (``TenantError``): ``already_suspended``; ``not_suspendable`` for
    any status outside :data:`SUSPENDABLE_STATUSES`.
    """
    with transaction.atomic():
        org, _ = _locked_for_status_change(organization_id)
        if org.status == OrganizationStatus.SUSPENDED:
            raise TenantError("The organization is already suspended.", code="already_suspended")
        if org.status not in SUSPENDABLE_STATUSES:
            raise TenantError(
                f"The organization is {org.status}: only trialing, active or past_due "
                "organizations can be suspended.",
                code="not_suspendable",
            )
        set_tenant_status(org, OrganizationStatus.SUSPENDED, status_before_suspension=org.status)
        organization_status_changed_on_commit(org, previous=org.status_before_suspension)
    logger.info(
        "organization %s suspended by an operator (was %s)", org.pk, org.status_before_suspension
    )
    return org


def organization_resume(*, organization_id: UUID) -> Organization:
    """Lift an operator's suspension: the organization gets back the status
    it had when suspended, then whatever its subscription calls for now
    (billing left it alone meanwhile: a trial that ended resumes ``active``, a
    payment grace period that ran out keeps it ``suspended``, by billing).

    A row suspended before the prior status was recorded resumes ``active``,
    then billing's status applies the same way. Refused (``TenantError``):
    ``not_suspended``; ``suspended_by_billing`` (billing lifts its own
    suspension when the customer pays, an operator does not).
    """
    with transaction.atomic():
        org, subscription = _locked_for_status_change(organization_id)
        if org.status != OrganizationStatus.SUSPENDED:
            raise TenantError(
                f"The organization is not suspended (it is {org.status}).", code="not_suspended"
            )
        if subscription is not None and subscription.suspended_by_billing:
            raise TenantError(
                "Billing suspended this organization (its subscription is "
                f"{subscription.status}): it resumes when billing is settled.",
                code="suspended_by_billing",
            )
        previous = org.status_before_suspension or OrganizationStatus.ACTIVE
        set_tenant_status(org, previous, status_before_suspension="")
        if subscription is not None:
            organization_status_resync(subscription=subscription)
            org.refresh_from_db(fields=["status", "updated_at"])
        organization_status_changed_on_commit(org, previous=OrganizationStatus.SUSPENDED)
    logger.info("organization %s resumed by an operator: %s", org.pk, org.status)
    return org
