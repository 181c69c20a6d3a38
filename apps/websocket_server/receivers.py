"""Closing sockets when access is lost, and ``member`` events.

Connected in ``apps.WebsocketServerConfig.ready`` (the organizations and iam
apps know nothing about sockets):

* ``membership_changed`` (sent after commit by the organizations services and
  admin): ``added`` → ``member``/``joined`` to the organization;
  ``removed`` → ``member``/``left`` and the user's sockets on that
  organization close with 4403; ``role_changed`` (role or status) → the
  sockets close with 4403, reason ``membership_changed`` (a still-active
  member reconnects and gets the new role's view; a deactivated one is
  refused), and ``member``/``left`` when the membership is no longer active.
* ``organization_status_changed`` (sent after commit by the organizations
  services that change the status, and billing's) into suspended/cancelled →
  every socket of the organization closes with 4403 (reason
  ``organization_inactive``).
* ``user_logged_out`` → the sockets opened with that session or token (in
  every organization) close with 4401.

Nothing here may fail the caller's request: errors are logged.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.http import HttpRequest

from apps.iam.models import User
from apps.organizations.constants import READ_ONLY_STATUSES, MembershipStatus
from apps.organizations.models import Membership, Organization

from .auth import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, credential_ids
from .events import evict_sockets, send_event
from .groups import credential_group, org_group, user_group

logger = logging.getLogger(__name__)


def on_membership_changed(
    sender: object,
    organization_id: UUID,
    user_id: UUID | None = None,
    action: str = "",
    **kwargs: object,
) -> None:
    try:
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None or user_id is None:
            return
        schema = organization.schema_name
        membership = Membership.objects.filter(
            organization_id=organization_id, user_id=user_id
        ).first()
        active = membership is not None and membership.status == MembershipStatus.ACTIVE
        data = {"user": str(user_id), "role": membership.role if membership else None}
        if action == "added" and active:
            send_event(schema_name=schema, type="member", op="joined", data=data)
            return
        if action in ("removed", "role_changed"):
            evict_sockets(
                groups=[user_group(schema, user_id)],
                code=CLOSE_FORBIDDEN,
                reason="membership_changed",
            )
            if not active:
                send_event(schema_name=schema, type="member", op="left", data=data)
    except Exception:
        logger.exception("websocket: membership change of %s not handled", organization_id)


def on_organization_status_changed(
    sender: object, schema_name: str, status: str, **kwargs: object
) -> None:
    """An organization became read-only (suspended, cancelled): close its
    sockets (the signal is sent after commit)."""
    if status not in READ_ONLY_STATUSES:
        return
    evict_sockets(
        groups=[org_group(schema_name)], code=CLOSE_FORBIDDEN, reason="organization_inactive"
    )


def on_user_logged_out(
    sender: object,
    request: HttpRequest | None = None,
    user: User | None = None,
    **kwargs: object,
) -> None:
    try:
        groups = [credential_group(c) for c in credential_ids(request)] if request else []
        evict_sockets(groups=groups, code=CLOSE_NOT_AUTHENTICATED, reason="logged_out")
    except Exception:
        logger.exception("websocket: logout of %s not handled", getattr(user, "pk", None))
