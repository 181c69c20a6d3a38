"""Who hears that a socket's user is typing in a chat channel (``chat.typing``).

A read made on behalf of a socket: it enters the organization's schema
itself, because the Channels database thread is shared by every socket of
every organization.
"""

from __future__ import annotations

import enum
from typing import Final, Literal

from django.contrib.auth.models import AnonymousUser
from django_tenants.utils import tenant_context

from apps.chat.selectors import channel_audience, channels_visible_to
from apps.iam.models import User
from apps.organizations.models import Organization
from apps.organizations.permissions import may
from apps.organizations.selectors import membership_for


class Hidden(enum.Enum):
    HIDDEN = "hidden"


#: The user may not see the channel, or may not write in it: the socket
#: answers ``unknown_channel`` (a hidden channel and an unknown one look alike).
HIDDEN: Final = Hidden.HIDDEN


def typing_audience(
    *, tenant: Organization, user: User | AnonymousUser, channel_id: str
) -> list[str] | Literal[Hidden.HIDDEN] | None:
    """The channel's audience (``None``: the whole organization) if ``user``
    may see it and write, else :data:`HIDDEN`."""
    with tenant_context(tenant):
        membership = membership_for(user=user, organization=tenant)
        if membership is None or not may(membership, "chat.write"):
            return HIDDEN
        channel = (
            channels_visible_to(actor=membership)
            .select_related("project")
            .filter(pk=channel_id)
            .first()
        )
        if channel is None:
            return HIDDEN
        return channel_audience(channel=channel, organization_id=tenant.pk)
