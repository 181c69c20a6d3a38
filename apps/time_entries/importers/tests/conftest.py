"""The ``acme`` fixture the import tests share: two members, a client, two
projects with rates, a task."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.models import Client
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Task


@pytest.fixture
def acme(in_tenant: Any) -> SimpleNamespace:
    alice = MembershipFactory(
        organization=in_tenant, role="manager", user=UserFactory(email="alice@acme.test")
    )
    bob = MembershipFactory(
        organization=in_tenant, role="member", user=UserFactory(email="bob@acme.test")
    )
    xylo = Client.objects.create(name="Xylo")
    apollo = ProjectFactory(name="Apollo", client=xylo, hourly_rate=Decimal("100.00"))
    borealis = ProjectFactory(name="Borealis", client=None, hourly_rate=Decimal("80.00"))
    design = Task.objects.create(project=apollo, title="Design")
    return SimpleNamespace(
        tenant=in_tenant,
        alice=alice,
        bob=bob,
        manager=client_as(in_tenant, alice),
        member=client_as(in_tenant, bob),
        xylo=xylo,
        apollo=apollo,
        borealis=borealis,
        design=design,
    )
