"""Factories for organization models (memberships of the session tenants)."""

from typing import Any

import factory

from apps.iam.tests.factories import UserFactory
from apps.organizations.constants import Role
from apps.organizations.models import Membership
from tenants.testing import TenantAPIClient


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


def client_as(tenant: Any, who: Membership | str | None) -> TenantAPIClient:
    """A client on ``tenant``'s host acting as ``who``: ``None`` (anonymous),
    ``"outsider"`` (authenticated, no membership), a role name (a new member
    with that role) or an existing membership. The client carries ``user``
    and ``membership`` (``None`` when there is none)."""
    client = TenantAPIClient(tenant)
    client.user = client.membership = None
    if who is None:
        return client
    if isinstance(who, Membership):
        client.membership = who
        client.user = who.user
    elif who == "outsider":
        client.user = UserFactory()
    else:
        client.membership = MembershipFactory(organization=tenant, role=who)
        client.user = client.membership.user
    client.force_authenticate(client.user)
    return client
