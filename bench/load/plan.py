"""The organizations and members a load run plays (see locustfile.py).

Organizations are created through the public signup API of the server under
test (so they are real, committed tenants); their owner creates a project, a
task and a chat channel through the API. Members are added in bulk with the
ORM (users, memberships and API tokens) because invitations travel by email
and logging in 50 times would hit the login throttle; ``add_members`` must run
where the ORM writes are committed (tests call it through ``committed``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def add_members(slug: str, count: int, *, channel: str) -> list[dict[str, str]]:
    """``count`` members (role member) of ``slug`` with API tokens."""
    from django.contrib.auth import get_user_model
    from django_tenants.utils import get_tenant_model, tenant_context

    from apps.iam.tokens import token_create
    from apps.organizations.models import Membership

    org = get_tenant_model().objects.get(slug=slug)
    out = []
    for n in range(count):
        user = get_user_model().objects.create_user(
            email=f"{slug}-m{n}@load.test", password="Load-pass-123"
        )
        Membership.objects.create(user=user, organization=org, role="member")
        _, key = token_create(user=user, name="load")
        out.append({"email": user.email, "token": key, "user_id": str(user.pk)})
    # Members must be able to post in the channel: join them through the ORM
    # only if the chat app keeps explicit members for public channels.
    with tenant_context(org):
        try:
            from apps.chat.models import ChannelMember
        except ImportError:  # pragma: no cover - chat not installed
            return out
        fields = {f.name for f in ChannelMember._meta.get_fields()}
        if {"channel", "user_id"} <= fields:
            for member in out:
                ChannelMember.objects.get_or_create(channel_id=channel, user_id=member["user_id"])
    return out


def write_plan(path: Path, members: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"members": members}, indent=1))
    return path
