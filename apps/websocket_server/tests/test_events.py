"""The domain-event helper: after commit only, bound to the emitting schema."""

import datetime
import uuid

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.websocket_server.events import recording_events, send_event_on_commit

pytestmark = pytest.mark.django_db


def test_event_is_dispatched_on_commit_with_its_schema(tenant, django_capture_on_commit_callbacks):
    task_id = uuid.uuid4()
    with (
        recording_events() as events,
        django_capture_on_commit_callbacks(execute=True),
        tenant_context(tenant),
    ):
        send_event_on_commit(
            type="task",
            op="created",
            data={"id": task_id, "due": datetime.date(2026, 12, 1)},
            user_ids=[task_id],
        )
        assert events == []  # nothing before commit
    assert len(events) == 1
    event = events[0]
    assert event.schema_name == tenant.schema_name
    assert event.message() == {
        "type": "task",
        "op": "created",
        "data": {"id": str(task_id), "due": "2026-12-01"},
    }
    assert event.user_ids == (str(task_id),)


def test_rolled_back_work_emits_nothing(tenant, django_capture_on_commit_callbacks):
    with (
        recording_events() as events,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
        tenant_context(tenant),
    ):
        send_event_on_commit(type="task", op="deleted", data={})
        raise RuntimeError("rollback")
    assert events == []
