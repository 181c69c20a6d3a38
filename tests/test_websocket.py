"""WebSocket entry: tenant resolution, origin, authentication (cookie or
ticket), membership, ping, and the event fan-out through the real Redis
channel layer of the test settings."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django_tenants.utils import tenant_context

from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.services import tasks as task_services
from apps.websocket_server.events import send_event_on_commit
from apps.websocket_server.testing import (
    RECEIVE_TIMEOUT,
    connect,
    cookie_for,
    expect_on_sockets,
    receive,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_transaction")]


@async_to_sync
async def _close_code(host: str, cookie: str | None = None, **kwargs: Any) -> int:
    _, communicator = await connect(host, cookie, **kwargs)
    message = await communicator.receive_output(timeout=RECEIVE_TIMEOUT)
    await communicator.wait()
    assert message["type"] == "websocket.close"
    return message["code"]


@async_to_sync
async def _ping(host: str, cookie: str | None = None, **kwargs: Any) -> dict:
    connected, communicator = await connect(host, cookie, **kwargs)
    assert connected
    await communicator.send_json_to({"type": "ping"})
    reply = await receive(communicator)
    await communicator.send_json_to({"type": "nonsense"})
    error = await receive(communicator)
    await communicator.disconnect()
    return {"reply": reply, "error": error}


def _ticket(tenant: Any, membership: Any) -> str:
    response = client_as(tenant, membership).post("/api/v1/realtime/ticket/")
    assert response.status_code == 201, response.content
    return response.json()["ticket"]


@pytest.fixture
def member(tenant: Any) -> Any:
    return MembershipFactory(organization=tenant, role="member")


@pytest.fixture
def session_cookie(member: Any) -> str:
    return cookie_for(member.user)


# --- entry: host, origin, authentication, membership ----------------------------------


@pytest.mark.parametrize("host", ["nope.localhost", "localhost"])
def test_unknown_tenant_or_public_host_is_closed_4404(host):
    assert _close_code(host) == 4404


def test_anonymous_socket_on_a_tenant_is_closed_4401(tenant):
    assert _close_code("acme.localhost") == 4401


def test_authenticated_member_socket_answers_ping(session_cookie):
    result = _ping("acme.localhost", session_cookie)
    assert result["reply"] == {"type": "pong"}
    assert result["error"]["code"] == "unknown_message"


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://globex.localhost", "http://acme.localhost.evil.example", None],
)
def test_origin_that_does_not_match_the_host_is_closed_4403(session_cookie, origin):
    assert _close_code("acme.localhost", session_cookie, origin=origin) == 4403


def test_authenticated_non_member_is_closed_4403(tenant):
    outsider = UserFactory()
    assert _close_code("acme.localhost", cookie_for(outsider)) == 4403


def test_deactivated_member_is_closed_4403(member):
    member.status = "deactivated"
    member.save(update_fields=["status"])
    assert _close_code("acme.localhost", cookie_for(member.user)) == 4403


def test_member_of_another_organization_is_closed_4403(other_tenant):
    globex_member = MembershipFactory(organization=other_tenant)
    assert _close_code("acme.localhost", cookie_for(globex_member.user)) == 4403


# --- tickets --------------------------------------------------------------------------


def test_ticket_opens_the_socket_once(tenant, member):
    ticket = _ticket(tenant, member)
    assert _ping("acme.localhost", query=f"ticket={ticket}")["reply"] == {"type": "pong"}
    assert _close_code("acme.localhost", query=f"ticket={ticket}") == 4401


def test_ticket_of_another_organization_is_closed_4401(tenant, other_tenant, member):
    MembershipFactory(organization=other_tenant, user=member.user)  # member of both
    ticket = _ticket(tenant, member)
    assert _close_code("globex.localhost", query=f"ticket={ticket}") == 4401
    # burned by the attempt: a ticket seen on the wrong host counts as leaked
    assert _close_code("acme.localhost", query=f"ticket={ticket}") == 4401


def test_expired_or_unknown_ticket_is_closed_4401(tenant, member):
    from django.core.cache import cache

    ticket = _ticket(tenant, member)
    cache.touch(f"ws-ticket:{ticket}", 0)  # let Redis expire it now
    assert _close_code("acme.localhost", query=f"ticket={ticket}") == 4401
    assert _close_code("acme.localhost", query="ticket=" + "x" * 43) == 4401


def test_bad_ticket_fails_even_with_a_valid_cookie(session_cookie):
    assert _close_code("acme.localhost", session_cookie, query="ticket=nope") == 4401


def test_ticket_of_a_member_who_left_is_closed_4403(tenant, member):
    ticket = _ticket(tenant, member)
    member.status = "deactivated"
    member.save(update_fields=["status"])
    assert _close_code("acme.localhost", query=f"ticket={ticket}") == 4403


def test_tokens_in_the_url_are_ignored(tenant, member):
    from apps.iam.tokens import token_create

    _, key = token_create(user=member.user)
    for param in ("token", "access_token", "auth"):
        assert _close_code("acme.localhost", query=f"{param}={key}") == 4401


# --- event fan-out --------------------------------------------------------------------


def test_member_socket_receives_task_created_and_other_org_nothing(tenant, other_tenant, commit):
    member = MembershipFactory(organization=tenant, role="member")
    globex_member = MembershipFactory(organization=other_tenant, role="owner")
    with tenant_context(tenant):
        project = ProjectFactory(name="Website")

    def create_task() -> Any:
        with commit(), tenant_context(tenant):
            return task_services.task_create(actor=member, project_id=project.pk, title="Ship it")

    received = expect_on_sockets(
        {
            "acme": ("acme.localhost", cookie_for(member.user)),
            "globex": ("globex.localhost", cookie_for(globex_member.user, "globex.localhost")),
        },
        create_task,
        expect={"acme": True, "globex": False},
    )
    task = received["result"]
    assert received["acme"]["type"] == "task"
    assert received["acme"]["op"] == "created"
    assert received["acme"]["data"]["id"] == str(task.pk)
    assert received["acme"]["data"]["title"] == "Ship it"


def test_event_for_listed_users_reaches_only_them(tenant, commit):
    alice = MembershipFactory(organization=tenant)
    bob = MembershipFactory(organization=tenant)

    def emit() -> None:
        with commit(), tenant_context(tenant):
            send_event_on_commit(
                type="task", op="updated", data={"id": "x"}, user_ids=[alice.user_id]
            )

    received = expect_on_sockets(
        {
            "alice": ("acme.localhost", cookie_for(alice.user)),
            "bob": ("acme.localhost", cookie_for(bob.user)),
        },
        emit,
        expect={"alice": True, "bob": False},
    )
    assert received["alice"] == {"type": "task", "op": "updated", "data": {"id": "x"}}


def test_rolled_back_work_reaches_no_socket(tenant, commit):
    member = MembershipFactory(organization=tenant)

    def emit_then_fail() -> None:
        from django.db import transaction

        with commit(), tenant_context(tenant):
            try:
                with transaction.atomic():
                    send_event_on_commit(type="task", op="deleted", data={})
                    raise RuntimeError("rollback")
            except RuntimeError:
                pass

    expect_on_sockets(
        {"member": ("acme.localhost", cookie_for(member.user))},
        emit_then_fail,
        expect={"member": False},
    )
