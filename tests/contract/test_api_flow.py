"""The flows of ../shared/API.md, end to end over real HTTP and a real
WebSocket against a live uvicorn (tests/contract/live.py):

signup on the public host → the new organization's host → project → task →
timer start/stop → manual entry (overlap 409) → timesheet submit → approve by a
manager (entry then locked, 409) → summary report → chat message delivered on
a socket opened with a realtime ticket.

Only documented paths, methods, status codes and named fields are asserted
(extra fields are allowed by the contract). One step needs something the API
cannot do on its own in a test: the second person (the approving manager) is
added with the ORM, because invitation tokens travel by email and the test
settings keep email in the server process's memory.
"""

from __future__ import annotations

import datetime
import json
import socket
import uuid
from decimal import Decimal
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tenants.testing import committed
from tests.contract.live import LiveServer, module_live_server, unique

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


server = module_live_server("contract")


def _add_member(blocker: Any, slug: str, email: str, role: str, password: str) -> None:
    def work() -> None:
        from django.contrib.auth import get_user_model
        from django_tenants.utils import get_tenant_model

        from apps.organizations.models import Membership

        user = get_user_model().objects.create_user(email=email, password=password)
        org = get_tenant_model().objects.get(slug=slug)
        Membership.objects.create(user=user, organization=org, role=role)

    committed(blocker, work)


def _expect(response: Any, status: int, step: str) -> Any:
    assert response.status_code == status, f"{step}: {response.status_code} {response.text[:600]}"
    return response.json() if response.content else None


def _last_week() -> tuple[datetime.date, datetime.datetime]:
    """Monday of last week (the default week starts on Monday, organization
    time zone UTC) and 09:00 UTC on its Tuesday."""
    today = datetime.datetime.now(datetime.UTC).date()
    monday = today - datetime.timedelta(days=today.weekday() + 7)
    tuesday_nine = datetime.datetime.combine(
        monday + datetime.timedelta(days=1), datetime.time(9), tzinfo=datetime.UTC
    )
    return monday, tuesday_nine


def _open_socket(server: LiveServer, slug: str, ticket: str) -> Any:
    host = server.host(slug)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return connect(
        f"ws://{host}/ws/?ticket={ticket}",
        sock=sock,
        origin=f"http://{host}",
        open_timeout=10,
    )


def _receive(ws: Any, wanted: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = datetime.datetime.now().timestamp() + timeout
    while True:
        remaining = deadline - datetime.datetime.now().timestamp()
        assert remaining > 0, f"no {wanted!r} event within {timeout} s"
        event = json.loads(ws.recv(timeout=remaining))
        if event.get("type") == wanted:
            return event


def test_documented_flow_end_to_end(server: LiveServer, django_db_blocker: Any) -> None:
    slug = unique("contract").replace("_", "-")
    owner_email = f"{slug}-owner@contract.test"
    manager_email = f"{slug}-manager@contract.test"
    password = "Contract-pass-123"

    # 1. Signup on the public host.
    signed = server.signup(slug, owner_email, password)
    assert {"organization", "user", "token"} <= set(signed)
    assert {"id", "name", "slug", "url", "status"} <= set(signed["organization"])
    assert signed["organization"]["slug"] == slug
    assert signed["user"]["email"] == owner_email
    token = signed["token"]

    with server.client(None) as public:
        # Login answers a key; the caller's organizations list the new one.
        key = _expect(
            public.post("/api/v1/auth/login/", json={"email": owner_email, "password": password}),
            200,
            "login",
        )["key"]
        assert key
        mine = _expect(
            public.get("/api/v1/organizations/", headers={"Authorization": f"Token {key}"}),
            200,
            "my organizations",
        )
        rows = mine["results"] if isinstance(mine, dict) else mine
        assert [(r["slug"], r["role"]) for r in rows] == [(slug, "owner")]

    org = server.client(slug, token)
    try:
        # 2. The tenant host knows its organization; another one's host is not ours.
        settings = _expect(org.get("/api/v1/organization/"), 200, "organization")
        assert settings["name"] == signed["organization"]["name"]
        with server.client("globex", token) as foreign:
            assert foreign.get("/api/v1/projects/").status_code == 403

        # 3. Project, 4. task.
        project = _expect(
            org.post(
                "/api/v1/projects/",
                json={"name": "Website redesign", "billable": True, "hourly_rate": "120.00"},
            ),
            201,
            "project create",
        )
        task = _expect(
            org.post(
                "/api/v1/tasks/",
                json={"project": project["id"], "title": "Fix login", "priority": "high"},
            ),
            201,
            "task create",
        )
        assert task["project"] in (project["id"], {"id": project["id"]}) or (
            isinstance(task["project"], dict) and task["project"]["id"] == project["id"]
        )

        # 5. Timer: start → GET shows it → stop → stopping again is 409.
        assert _expect(org.get("/api/v1/timer/"), 200, "timer idle") is None
        running = _expect(
            org.post(
                "/api/v1/timer/start/",
                json={"project": project["id"], "task": task["id"], "description": "login bug"},
            ),
            201,
            "timer start",
        )
        assert running["ended_at"] is None
        assert _expect(org.get("/api/v1/timer/"), 200, "timer running")["id"] == running["id"]
        stopped = _expect(org.post("/api/v1/timer/stop/", json={}), 200, "timer stop")
        assert stopped["id"] == running["id"]
        assert stopped["ended_at"] is not None
        assert isinstance(stopped["duration_seconds"], int)
        assert org.post("/api/v1/timer/stop/", json={}).status_code == 409

        # 6. Manual entry last week: 90 min at 120.00/h = 180.00; an overlap is 409.
        monday, start = _last_week()
        end = start + datetime.timedelta(minutes=90)
        entry = _expect(
            org.post(
                "/api/v1/time-entries/",
                json={
                    "project": project["id"],
                    "task": task["id"],
                    "description": "pairing on login",
                    "started_at": start.isoformat(),
                    "ended_at": end.isoformat(),
                    "billable": True,
                },
            ),
            201,
            "manual entry",
        )
        assert entry["duration_seconds"] == 5400
        assert Decimal(entry["hourly_rate"]) == Decimal("120.00")
        assert Decimal(entry["amount"]) == Decimal("180.00")
        overlap = org.post(
            "/api/v1/time-entries/",
            json={
                "project": project["id"],
                "started_at": (start + datetime.timedelta(minutes=30)).isoformat(),
                "ended_at": (end + datetime.timedelta(minutes=30)).isoformat(),
            },
        )
        assert overlap.status_code == 409, overlap.text
        listed = _expect(
            org.get("/api/v1/time-entries/", params={"from": monday.isoformat()}),
            200,
            "entries list",
        )
        assert {"results", "next", "previous"} <= set(listed)
        assert entry["id"] in [e["id"] for e in listed["results"]]

        # 7. Timesheet of last week: created on demand, submitted.
        sheet = org.post("/api/v1/timesheets/", json={"period_start": monday.isoformat()})
        assert sheet.status_code in (200, 201), sheet.text
        sheet = sheet.json()
        assert sheet["status"] == "draft"
        assert sheet["period_start"] == monday.isoformat()
        submitted = _expect(
            org.post(f"/api/v1/timesheets/{sheet['id']}/submit/", json={}), 200, "submit"
        )
        assert submitted["status"] == "submitted"
        assert submitted["total_seconds"] == 5400
        # The owner may not approve their own sheet.
        own = org.post(f"/api/v1/timesheets/{sheet['id']}/approve/", json={})
        assert own.status_code == 403, own.text

        # 8. A manager approves; the entry is then locked (409 entry_locked).
        _add_member(django_db_blocker, slug, manager_email, "manager", password)
        server.emails.add(manager_email)
        with server.client(None) as public:
            manager_key = _expect(
                public.post(
                    "/api/v1/auth/login/", json={"email": manager_email, "password": password}
                ),
                200,
                "manager login",
            )["key"]
        with server.client(slug, manager_key) as manager:
            approved = _expect(
                manager.post(f"/api/v1/timesheets/{sheet['id']}/approve/", json={}),
                200,
                "approve",
            )
            assert approved["status"] == "approved"
            again = manager.post(f"/api/v1/timesheets/{sheet['id']}/approve/", json={})
            assert again.status_code == 409, again.text
        locked = org.patch(f"/api/v1/time-entries/{entry['id']}/", json={"description": "x"})
        assert locked.status_code == 409, locked.text
        assert locked.json()["code"] == "entry_locked"

        # 9. Summary report over both entries.
        report = _expect(
            org.get(
                "/api/v1/reports/summary/",
                params={
                    "from": monday.isoformat(),
                    "to": datetime.datetime.now(datetime.UTC).date().isoformat(),
                    "group_by": "project",
                },
            ),
            200,
            "summary report",
        )
        assert {"total_seconds", "billable_seconds", "billable_amount", "groups"} <= set(report)
        assert report["total_seconds"] == 5400 + stopped["duration_seconds"]
        assert len(report["groups"]) == 1
        export = org.get(
            "/api/v1/reports/export/",
            params={
                "from": monday.isoformat(),
                "to": datetime.datetime.now(datetime.UTC).date().isoformat(),
                "format": "csv",
            },
        )
        assert export.status_code == 200, export.text[:300]
        assert "pairing on login" in export.text

        # 10. Chat: a message reaches a socket opened with a realtime ticket.
        ticket = _expect(org.post("/api/v1/realtime/ticket/", json={}), 201, "ticket")["ticket"]
        with _open_socket(server, slug, ticket) as ws:
            ws.send(json.dumps({"type": "ping"}))
            channel = _expect(
                org.post(
                    "/api/v1/chat/channels/",
                    json={"name": f"general-{uuid.uuid4().hex[:6]}", "kind": "public"},
                ),
                201,
                "channel create",
            )
            body = "Shipped the **login** fix"
            message = _expect(
                org.post(f"/api/v1/chat/channels/{channel['id']}/messages/", json={"body": body}),
                201,
                "message post",
            )
            event = _receive(ws, "chat.message")
            assert event["op"] == "created"
            assert event["data"]["id"] == message["id"]
        history = _expect(
            org.get(f"/api/v1/chat/channels/{channel['id']}/messages/"), 200, "history"
        )
        assert [m["id"] for m in history["results"]] == [message["id"]]
        # A used ticket does not open a second socket.
        refused = (InvalidStatus, ConnectionClosed)  # rejected handshake or 4401 close
        with pytest.raises(refused), _open_socket(server, slug, ticket) as ws2:
            ws2.recv(timeout=5)
    finally:
        org.close()
