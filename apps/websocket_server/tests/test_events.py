"""The domain-event helper: after commit only, bound to the emitting schema."""

import datetime
import uuid

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.websocket_server.events import recording_events, send_event_on_commit
from apps.websocket_server.groups import org_group, user_group
from apps.websocket_server.publisher import publisher

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


# --- channel-layer fan-out ------------------------------------------------------------


class _FakeLayer:
    """Records ``group_send`` calls; fails for the groups in ``failing``."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.failing = failing

    async def group_send(self, group: str, message: dict) -> None:
        if group in self.failing:
            raise ConnectionError("redis is down")
        self.sent.append((group, message))


def _emit(tenant, commit, **kwargs) -> None:
    with commit(), tenant_context(tenant):
        send_event_on_commit(type="task", op="created", data={"id": "t1"}, **kwargs)
    # The send happens on the publisher's thread (publisher.py): wait for it.
    assert publisher.flush(5)


def test_event_goes_to_the_organization_group(tenant, commit, monkeypatch):
    layer = _FakeLayer()
    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", lambda: layer)
    _emit(tenant, commit)
    assert layer.sent == [
        (
            org_group(tenant.schema_name),
            {
                "type": "event.message",
                "event": {"type": "task", "op": "created", "data": {"id": "t1"}},
            },
        )
    ]


def test_event_with_user_ids_goes_to_each_user_group_only(tenant, commit, monkeypatch):
    layer = _FakeLayer()
    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", lambda: layer)
    _emit(tenant, commit, user_ids=["a", "b"])
    assert [group for group, _ in layer.sent] == [
        user_group(tenant.schema_name, "a"),
        user_group(tenant.schema_name, "b"),
    ]


def test_large_audience_goes_once_to_the_organization_group_with_the_list(
    tenant, commit, monkeypatch
):
    layer = _FakeLayer()
    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", lambda: layer)
    monkeypatch.setattr("apps.websocket_server.events.ORG_GROUP_AUDIENCE_THRESHOLD", 2)
    _emit(tenant, commit, user_ids=["a", "b", "c"])
    assert layer.sent == [
        (
            org_group(tenant.schema_name),
            {
                "type": "event.message",
                "event": {"type": "task", "op": "created", "data": {"id": "t1"}},
                "only_users": ["a", "b", "c"],
            },
        )
    ]


def test_empty_audience_reaches_nobody(tenant, commit, monkeypatch):
    layer = _FakeLayer()
    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", lambda: layer)
    _emit(tenant, commit, user_ids=[])
    assert layer.sent == []


def test_layer_failure_is_logged_not_raised(tenant, commit, monkeypatch, caplog):
    layer = _FakeLayer(failing=(user_group(tenant.schema_name, "a"),))
    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", lambda: layer)
    with recording_events() as events:
        _emit(tenant, commit, user_ids=["a", "b"])
    assert len(events) == 1  # recorders still ran
    assert [group for group, _ in layer.sent] == [user_group(tenant.schema_name, "b")]
    assert "not sent to group" in caplog.text


def test_unreachable_layer_is_logged_not_raised(tenant, commit, monkeypatch, caplog):
    def broken() -> None:
        raise RuntimeError("bad CHANNEL_LAYERS")

    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", broken)
    _emit(tenant, commit)
    assert "not sent to the channel layer" in caplog.text


# --- group names ------------------------------------------------------------------------


def test_group_names_are_prefixed_valid_and_short(settings):
    import re

    settings.NOVATIME_ENV_PREFIX = "novatime-rt-test"
    assert org_group("acme") == "novatime-rt-test.acme.org"
    user_id = uuid.UUID(int=1)
    assert user_group("acme", user_id) == f"novatime-rt-test.acme.user.{user_id}"
    long_schema = "s" * 63
    names = {user_group(long_schema, user_id), user_group(long_schema, uuid.UUID(int=2))}
    assert len(names) == 2
    for name in [*names, org_group("weird schema/ä")]:
        assert len(name) < 100
        assert re.fullmatch(r"[a-zA-Z0-9._-]+", name)
