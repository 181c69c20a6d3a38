"""The isolation matrix's page dimension (issue #20): every web page of
organization A (every view behind ``apps.iam.web.access.member_page``, found by
walking the URL resolver, so a new page is attacked without being listed)
refuses an anonymous visitor, a member of B only, and a session signed in on
B's host, for GET and POST, without leaking A's data or changing it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from tenants.testing import TenantAPIClient
from tests.isolation.endpoints import tenant_endpoints
from tests.isolation.world import World, fingerprint

pytestmark = pytest.mark.django_db

PAGES = [e for e in tenant_endpoints() if getattr(e.view, "member_page", False)]
ATTACKS = ["anonymous", "member-of-b-only", "session-from-b-host", "forged-binding-b-only"]
CASES = [
    (page, method, attack) for page in PAGES for method in ("get", "post") for attack in ATTACKS
]


def test_pages_are_found():
    assert {"/", "/timer/start/", "/timer/stop/", "/timesheets/", "/timesheets/approvals/"} <= {
        page.id for page in PAGES
    }


def _signed_in_on_b(world: World, membership: Any) -> TenantAPIClient:
    client = TenantAPIClient(membership.organization, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content[:300]
    return client


def _attacker(world: World, attack: str, tenant: Any) -> TenantAPIClient:
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    if attack == "member-of-b-only":
        client.cookies = _signed_in_on_b(world, world.b_owner).cookies
    elif attack == "session-from-b-host":
        client.cookies = _signed_in_on_b(world, _on_b(world, world.both_owner)).cookies
    elif attack == "forged-binding-b-only":
        client.force_login(world.b_owner.user)
        session = client.session
        session[SESSION_ORGANIZATION_KEY] = str(tenant.pk)
        session.save()
    return client


def _on_b(world: World, membership: Any) -> Any:
    """``membership``'s user's membership in B (``both_owner`` is in A and B)."""
    from apps.organizations.models import Membership

    return Membership.objects.select_related("organization", "user").get(
        user=membership.user, organization=world.b_owner.organization
    )


def _url(world: World, page: Any) -> str:
    """The page's URL, each parameter filled with a real id of A's where the
    world seeded one (``/entries/<entry_id>/edit/`` is attacked on A's own
    entry), else with a well-formed value (a fresh uuid): the gate must
    refuse before any object is looked up."""
    values = {}
    for name, converter in page.params:
        real = world.id_for(world.a, page, name)
        values[name] = real or (str(uuid.uuid4()) if converter == "uuid" else "x")
    return page.path(values)


@pytest.mark.parametrize(
    ("page", "method", "attack"),
    CASES,
    ids=[f"{m.upper()} {p.id} {a}" for p, m, a in CASES],
)
def test_page_refuses(page: Any, method: str, attack: str, world: World, tenant: Any) -> None:
    client = _attacker(world, attack, tenant)
    before = fingerprint(world)

    response = getattr(client, method)(_url(world, page))

    body = response.content.decode("utf-8", "replace")
    if response.status_code == 405:
        pass  # the page does not take this method at all
    elif attack == "forged-binding-b-only":
        assert response.status_code == 403, body[:300]
        assert response["Content-Type"].startswith("text/html")
    else:
        assert response.status_code == 302, body[:300]
        assert response["Location"].startswith("/signin/?next=")
    assert not [s for s in world.a.secrets() if s in body], "leaks A's data"
    assert fingerprint(world) == before
