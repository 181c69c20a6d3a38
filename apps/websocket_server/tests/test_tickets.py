"""Tickets: issued by members only, 60 s, single-use, bound to user + organization."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.organizations.tests.factories import client_as
from apps.websocket_server.tickets import TICKET_TTL_SECONDS, consume_ticket, issue_ticket

pytestmark = pytest.mark.django_db

URL = "/api/v1/realtime/ticket/"


def _ttl(ticket: str) -> int:
    client = cache._cache.get_client(write=False)
    return client.ttl(cache.make_and_validate_key(f"ws-ticket:{ticket}"))


def test_member_gets_a_ticket_bound_to_them_and_the_organization(tenant):
    client = client_as(tenant, "viewer")
    response = client.post(URL)
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == TICKET_TTL_SECONDS == 60
    assert 0 < _ttl(body["ticket"]) <= 60
    binding = consume_ticket(ticket=body["ticket"], schema_name=tenant.schema_name)
    assert binding is not None
    assert binding.user_id == str(client.user.pk)


def test_tickets_are_random(tenant):
    client = client_as(tenant, "member")
    assert client.post(URL).json()["ticket"] != client.post(URL).json()["ticket"]


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("outsider", 403)])
def test_anonymous_and_outsiders_get_no_ticket(tenant, who, status):
    response = client_as(tenant, who).post(URL)
    assert response.status_code == status
    if who == "outsider":
        assert response.json()["code"] == "not_a_member"


def test_get_is_not_allowed(tenant):
    assert client_as(tenant, "member").get(URL).status_code == 405


def test_ticket_is_single_use(tenant):
    ticket = issue_ticket(user_id="u1", schema_name=tenant.schema_name)
    assert consume_ticket(ticket=ticket, schema_name=tenant.schema_name) is not None
    assert consume_ticket(ticket=ticket, schema_name=tenant.schema_name) is None


def test_expired_ticket_is_refused(tenant):
    ticket = issue_ticket(user_id="u1", schema_name=tenant.schema_name)
    cache.touch(f"ws-ticket:{ticket}", 0)  # Redis expires the key now
    assert consume_ticket(ticket=ticket, schema_name=tenant.schema_name) is None


def test_ticket_of_another_organization_is_refused_and_burned(tenant, other_tenant):
    ticket = issue_ticket(user_id="u1", schema_name=tenant.schema_name)
    assert consume_ticket(ticket=ticket, schema_name=other_tenant.schema_name) is None
    assert consume_ticket(ticket=ticket, schema_name=tenant.schema_name) is None


@pytest.mark.parametrize("ticket", ["", "short", "x" * 200, "../../etc", None, "a b" * 20])
def test_malformed_tickets_are_refused(tenant, ticket):
    assert consume_ticket(ticket=ticket, schema_name=tenant.schema_name) is None
