"""Isolation beyond HTTP: socket events and Celery.

A person who belongs to both organizations has a socket on each host. An
event emitted in A, whether addressed to the whole organization or to that
person by id, reaches only the socket on A's host: per-user groups are
namespaced by schema, so a user id never opens a path across organizations.
"""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory
from apps.websocket_server.events import send_event_on_commit
from apps.websocket_server.testing import cookie_for as _cookie_for
from apps.websocket_server.testing import expect_on_sockets as _run_with_sockets
from config.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in tests/test_websocket.py: Channels' connection hygiene would close
    the test's own connection (and abort its transaction)."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


@pytest.mark.parametrize("audience", ["organization", "that-user"])
@pytest.mark.parametrize("event_type", ["task", "timer", "timesheet", "chat.message", "idle"])
def test_event_in_one_org_never_reaches_the_same_person_in_the_other(
    tenant: Any, other_tenant: Any, commit: Any, audience: str, event_type: str
) -> None:
    user = UserFactory()
    MembershipFactory(organization=tenant, user=user, role="member")
    MembershipFactory(organization=other_tenant, user=user, role="member")

    def emit() -> None:
        with commit(), tenant_context(tenant):
            send_event_on_commit(
                type=event_type,
                op="created",
                data={"id": "acme-only"},
                user_ids=None if audience == "organization" else [user.pk],
            )

    received = _run_with_sockets(
        {
            "acme": ("acme.localhost", _cookie_for(user)),
            "globex": ("globex.localhost", _cookie_for(user, "globex.localhost")),
        },
        emit,
        expect={"acme": True, "globex": False},
    )
    assert received["acme"]["data"] == {"id": "acme-only"}


def test_every_periodic_job_is_a_registered_task() -> None:
    """Each beat entry names a task some app defines (the ``*_all_tenants``
    jobs iterate organizations themselves; a missing one would never run)."""
    from django.conf import settings

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names - set(app.tasks) == set()
