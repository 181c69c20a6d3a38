"""Token authentication on organization hosts: the token, its user and the
caller's active membership here come in one statement, with the same
answers as looking them up apart (401 for a bad token, 403 ``not_a_member``
for a valid token without an active membership here)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import expect
from apps.iam.models import AuthToken
from apps.iam.tests.factories import UserFactory
from apps.iam.tokens import token_create
from apps.organizations.constants import MembershipStatus
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def _client(tenant: Any, key: str) -> TenantAPIClient:
    return TenantAPIClient(tenant, HTTP_AUTHORIZATION=f"Token {key}")


def _member_key(tenant: Any, **membership: Any) -> tuple[Any, str]:
    m = MembershipFactory(organization=tenant, **membership)
    return m, token_create(user=m.user, name="test")[1]


def test_member_token_and_membership_in_one_statement(tenant):
    _, key = _member_key(tenant)
    client = _client(tenant, key)
    expect(client.get("/api/v1/timer/"), 200)  # stamps last_used_at
    with CaptureQueriesContext(connection) as queries:
        expect(client.get("/api/v1/timer/"), 200)
    statements = [q["sql"] for q in queries.captured_queries]
    membership_reads = [sql for sql in statements if "organizations_membership" in sql]
    assert len(membership_reads) == 1, statements
    assert "iam_authtoken" in membership_reads[0]
    assert not any("iam_authtoken" in sql for sql in statements if sql not in membership_reads)


def test_unknown_token_is_401_on_an_organization_host(tenant):
    response = _client(tenant, "not-a-key").get("/api/v1/timer/")
    assert expect(response, 401)["code"] == "authentication_failed"


def test_valid_token_without_membership_is_403_not_a_member(tenant):
    key = token_create(user=UserFactory(), name="test")[1]
    assert expect(_client(tenant, key).get("/api/v1/timer/"), 403)["code"] == "not_a_member"


def test_member_of_another_organization_is_403_here(tenant, other_tenant):
    _, key = _member_key(other_tenant)
    assert expect(_client(tenant, key).get("/api/v1/timer/"), 403)["code"] == "not_a_member"
    expect(_client(other_tenant, key).get("/api/v1/timer/"), 200)


def test_inactive_membership_is_403_not_a_member(tenant):
    _, key = _member_key(tenant, status=MembershipStatus.DEACTIVATED)
    assert expect(_client(tenant, key).get("/api/v1/timer/"), 403)["code"] == "not_a_member"


def test_inactive_user_is_401(tenant):
    membership, key = _member_key(tenant)
    membership.user.is_active = False
    membership.user.save(update_fields=["is_active"])
    expect(_client(tenant, key).get("/api/v1/timer/"), 401)


def test_role_comes_from_the_joined_membership(tenant):
    """A viewer's write is refused by role, so the membership the permission
    class used is the one loaded with the token (not a default)."""
    _, key = _member_key(tenant, role="viewer")
    response = _client(tenant, key).post("/api/v1/timer/stop/", {}, format="json")
    assert expect(response, 403)["code"] == "role_required"


def test_two_factor_requirement_is_read_fresh(tenant):
    """The organization row joined with the membership is the database's, so
    switching the requirement on applies from the next request."""
    _, key = _member_key(tenant)
    client = _client(tenant, key)
    expect(client.get("/api/v1/timer/"), 200)
    type(tenant).objects.filter(pk=tenant.pk).update(require_two_factor=True)
    assert expect(client.get("/api/v1/timer/"), 403)["code"] == "two_factor_required"


def test_token_use_is_stamped(tenant):
    membership, key = _member_key(tenant)
    expect(_client(tenant, key).get("/api/v1/timer/"), 200)
    assert AuthToken.objects.get(user=membership.user).last_used_at is not None


def test_public_host_still_authenticates(public_client):
    user = UserFactory()
    key = token_create(user=user, name="test")[1]
    public_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    expect(public_client.get("/api/v1/organizations/"), 200)
