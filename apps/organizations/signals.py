"""Signals the organizations services send for other apps (billing's seat
sync, the WebSocket server's evictions…), and the helper that sends the
status signal after commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from .models import Organization

#: A membership was created, changed role/status, or removed.
#: kwargs: organization_id, user_id, action ("added" | "role_changed" | "removed").
membership_changed = Signal()

#: An organization's status changed (suspended, resumed, cancelled, …), sent
#: after commit by the services that change it: ``services.lifecycle``
#: (an operator's suspension and resumption) and billing's subscription sync.
#: kwargs: organization_id, schema_name, status (the new one), previous.
organization_status_changed = Signal()


def organization_status_changed_on_commit(organization: Organization, *, previous: str) -> None:
    """Send :data:`organization_status_changed` after commit when
    ``organization.status`` (as just saved) is not ``previous``."""
    status = organization.status
    if status == previous:
        return
    org_id, schema = organization.pk, organization.schema_name
    transaction.on_commit(
        lambda: organization_status_changed.send(
            sender=type(organization),
            organization_id=org_id,
            schema_name=schema,
            status=status,
            previous=previous,
        )
    )
