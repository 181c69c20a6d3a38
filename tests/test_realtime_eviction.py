"""Sockets are closed when access is lost: membership removed or changed,
organization suspended, logout; ``member`` joined/left events."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client
from django_tenants.utils import schema_context

from apps.iam.tokens import token_create
from apps.organizations import services as organization_services
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.websocket_server.testing import (
    ACME,
    GLOBEX,
    acookie,
    close_code,
    connect,
    cookie_for,
    receive,
    receive_all,
    receives_nothing,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_transaction")]


def test_removed_member_is_closed_4403_others_see_left(tenant, other_tenant, commit):
    owner = MembershipFactory(organization=tenant, role="owner")
    leaver = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=leaver.user)

    def remove() -> None:
        with commit(), schema_context("public"):
            organization_services.member_remove(actor=owner, membership=leaver)

    @async_to_sync
    async def scenario() -> dict[str, Any]:
        _, watcher = await connect(ACME, await acookie(owner.user))
        _, acme_socket = await connect(ACME, await acookie(leaver.user))
        _, globex_socket = await connect(GLOBEX, await acookie(leaver.user, GLOBEX))
        for s in (watcher, acme_socket, globex_socket):
            await receive_all(s)
        await database_sync_to_async(remove)()
        out = {
            "code": await close_code(acme_socket),
            "watcher": await receive(watcher),
            "globex_quiet": await receives_nothing(globex_socket),
        }
        await globex_socket.send_json_to({"type": "ping"})
        out["globex_alive"] = await receive(globex_socket)
        await watcher.disconnect()
        await globex_socket.disconnect()
        return out

    out = scenario()
    assert out["code"] == 4403
    assert out["watcher"] == {
        "type": "member",
        "op": "left",
        "data": {"user": str(leaver.user_id), "role": None},
    }
    assert out["globex_quiet"] and out["globex_alive"] == {"type": "pong"}


def test_role_change_closes_4403_and_reconnect_works(tenant, commit):
    admin = MembershipFactory(organization=tenant, role="admin")
    member = MembershipFactory(organization=tenant, role="member")

    def demote() -> None:
        with commit(), schema_context("public"):
            organization_services.member_change_role(actor=admin, membership=member, role="viewer")

    @async_to_sync
    async def scenario() -> tuple[int, bool]:
        _, socket = await connect(ACME, await acookie(member.user))
        await receive_all(socket)
        await database_sync_to_async(demote)()
        code = await close_code(socket)
        connected, again = await connect(ACME, await acookie(member.user))
        await again.disconnect()
        return code, connected

    assert scenario() == (4403, True)


def test_deactivated_membership_closes_and_cannot_reconnect(tenant, commit):
    member = MembershipFactory(organization=tenant)

    def deactivate() -> None:
        from apps.organizations.signals import membership_changed

        with commit(), schema_context("public"):
            Membership.objects.filter(pk=member.pk).update(status="deactivated")
            from django.db import transaction

            transaction.on_commit(
                lambda: membership_changed.send(
                    sender=Membership,
                    organization_id=tenant.pk,
                    user_id=member.user_id,
                    action="role_changed",  # what the admin sends for a status change
                )
            )

    @async_to_sync
    async def scenario() -> tuple[int, int]:
        _, socket = await connect(ACME, await acookie(member.user))
        await receive_all(socket)
        await database_sync_to_async(deactivate)()
        first = await close_code(socket)
        _, again = await connect(ACME, await acookie(member.user))
        return first, await close_code(again)

    assert scenario() == (4403, 4403)


def test_new_member_event_joined(tenant, commit):
    owner = MembershipFactory(organization=tenant, role="owner")

    def join() -> Any:
        with commit(), schema_context("public"):
            from apps.iam.tests.factories import UserFactory
            from apps.organizations.services.invitations import _membership_join

            return _membership_join(organization_id=tenant.pk, user=UserFactory(), role="member")

    @async_to_sync
    async def scenario() -> tuple[Any, dict]:
        _, watcher = await connect(ACME, await acookie(owner.user))
        await receive_all(watcher)
        # _membership_join does not notify by itself: the services around it do.
        membership = await database_sync_to_async(join)()
        from apps.websocket_server.receivers import on_membership_changed

        await database_sync_to_async(on_membership_changed)(
            sender=Membership,
            organization_id=tenant.pk,
            user_id=membership.user_id,
            action="added",
        )
        event = await receive(watcher)
        await watcher.disconnect()
        return membership, event

    membership, event = scenario()
    assert event == {
        "type": "member",
        "op": "joined",
        "data": {"user": str(membership.user_id), "role": "member"},
    }


def _suspend_by_an_operator(organization_id: Any) -> None:
    organization_services.organization_suspend(organization_id=organization_id)


def _cancel_by_billing(organization_id: Any) -> None:
    """What billing's subscription sync does: set the status, send the signal."""
    from apps.organizations.models import Organization
    from apps.organizations.signals import organization_status_changed_on_commit
    from tenants.provisioning import set_tenant_status

    organization = Organization.objects.select_for_update().get(pk=organization_id)
    previous = organization.status
    set_tenant_status(organization, "cancelled")
    organization_status_changed_on_commit(organization, previous=previous)


@pytest.mark.parametrize("make_inactive", [_suspend_by_an_operator, _cancel_by_billing])
def test_suspended_organization_closes_its_sockets_only(
    tenant, other_tenant, commit, make_inactive
):
    member = MembershipFactory(organization=tenant)
    globex = MembershipFactory(organization=other_tenant)

    def suspend() -> None:
        with commit(), schema_context("public"):
            make_inactive(tenant.pk)

    @async_to_sync
    async def scenario() -> tuple[int, bool, int]:
        _, acme_socket = await connect(ACME, await acookie(member.user))
        _, globex_socket = await connect(GLOBEX, await acookie(globex.user, GLOBEX))
        await receive_all(acme_socket)
        await receive_all(globex_socket)
        await database_sync_to_async(suspend)()
        code = await close_code(acme_socket)
        quiet = await receives_nothing(globex_socket)
        await globex_socket.disconnect()
        _, again = await connect(ACME, await acookie(member.user))
        return code, quiet, await close_code(again)

    assert scenario() == (4403, True, 4403)


def test_logout_closes_the_sessions_sockets_4401(tenant, other_tenant):
    member = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=member.user)
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(member.user)
    from django.conf import settings

    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    other_device = cookie_for(member.user)  # another login of the same user

    @async_to_sync
    async def scenario() -> tuple[int, int, bool]:
        _, acme_socket = await connect(ACME, cookie)
        _, globex_socket = await connect(GLOBEX, cookie)
        _, other = await connect(ACME, other_device)
        for s in (acme_socket, globex_socket, other):
            await receive_all(s)
        response = await database_sync_to_async(browser.post)("/api/v1/auth/logout/")
        assert response.status_code == 200
        codes = (await close_code(acme_socket), await close_code(globex_socket))
        still_open = await receives_nothing(other, skip=("presence",))
        await other.disconnect()
        return (*codes, still_open)

    assert scenario() == (4401, 4401, True)


def test_logout_with_a_token_closes_sockets_opened_with_its_tickets(tenant):
    member = MembershipFactory(organization=tenant)
    _, key = token_create(user=member.user)
    api = client_as(tenant, None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    ticket = api.post("/api/v1/realtime/ticket/").json()["ticket"]

    @async_to_sync
    async def scenario() -> int:
        connected, socket = await connect(ACME, query=f"ticket={ticket}")
        assert connected
        await receive_all(socket)
        logout = await database_sync_to_async(api.post)("/api/v1/auth/logout/")
        assert logout.status_code == 200
        return await close_code(socket)

    assert scenario() == 4401
