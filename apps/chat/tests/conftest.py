"""Chat test fixtures: members of the test organization."""

from __future__ import annotations

from typing import Any

import pytest

from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory


def member(tenant: Any, role: str = "member") -> Membership:
    return MembershipFactory(organization=tenant, role=role)


@pytest.fixture
def alice(tenant: Any) -> Membership:
    return member(tenant)


@pytest.fixture
def bob(tenant: Any) -> Membership:
    return member(tenant)
