"""Billing's listeners to other apps' signals (connected in ``apps.BillingConfig.ready``).

``membership_changed`` is sent by apps.organizations after commit. A new
member of an organization without a subscription starts its trial (that is
how signup and ``tenants create`` get one, without the organizations app
knowing about billing). Every change updates the seat count: in one query
for an organization Stripe does not bill yet (trials, Free), through a
debounced Celery task that also updates Stripe for the others.
Nothing here may fail the caller's (already committed) request.
"""

from __future__ import annotations

import logging
import uuid

from . import services, tasks

logger = logging.getLogger(__name__)


def on_membership_changed(
    sender: object,
    organization_id: uuid.UUID | str,
    user_id: uuid.UUID | str | None = None,
    action: str = "",
    **kwargs: object,
) -> None:
    try:
        if action == "added":
            services.subscription_ensure(organization_id=organization_id)
        if not services.seats_refresh_local(organization_id=organization_id):
            tasks.schedule_seat_sync(organization_id)  # Stripe-billed: debounced push
    except Exception:
        logger.exception("billing: membership change of %s not handled", organization_id)
