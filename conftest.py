"""Fixtures shared by every test: real PostgreSQL, real Redis, session tenants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.common.testing import clear_test_cache
from tenants.testing import TenantAPIClient, build_session_tenants

#: Modules that take a minute or more (``scripts/test --durations=0``, CI's
#: machine, 2026-12-08). They are collected first, so that pytest-xdist, which
#: hands out whole modules in collection order (``--dist loadfile``), starts
#: them at once on separate workers instead of leaving one for the end.
LONGEST_MODULES = (
    "tests/test_run_command.py",  # ~170 s
    "tests/isolation/test_pages.py",  # ~155 s
    "tests/test_faults.py",  # ~150 s
    "tests/isolation/test_http_matrix.py",  # ~135 s
    "tests/fuzz/test_hostile_walk.py",  # ~115 s
    "tests/test_openapi.py",  # ~75 s
    "tests/isolation/test_pages_browser.py",  # ~70 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first (stable otherwise: the rest keep their order)."""
    rank = {path: i for i, path in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """After the test database is migrated, build the template and the session
    tenants once (committed, shared by all tests)."""
    with django_db_blocker.unblock():
        build_session_tenants()
    yield


@pytest.fixture(autouse=True)
def _clean_cache_and_schema() -> Iterator[None]:
    """Each test starts in the public schema with an empty cache.

    Tenant rows that a test creates are rolled back with its transaction, so
    their cached copies must not leak into the next test.
    """
    clear_test_cache()
    yield
    clear_test_cache()
    connection.set_schema_to_public()


@pytest.fixture
def session_tenants(db: None) -> dict[str, Any]:
    from django_tenants.utils import get_tenant_model

    return {t.slug: t for t in get_tenant_model().objects.filter(slug__in=["acme", "globex"])}


@pytest.fixture
def tenant(session_tenants: dict[str, Any]) -> Any:
    """The ``acme`` organization."""
    return session_tenants["acme"]


@pytest.fixture
def other_tenant(session_tenants: dict[str, Any]) -> Any:
    """The ``globex`` organization: must never see ``acme``'s data."""
    return session_tenants["globex"]


@pytest.fixture
def in_tenant(tenant: Any) -> Iterator[Any]:
    """Run the test body inside ``acme``'s schema."""
    with tenant_context(tenant):
        yield tenant


@pytest.fixture
def tenant_client(tenant: Any) -> TenantAPIClient:
    """API client whose requests go to ``acme.<base>``."""
    return TenantAPIClient(tenant)


@pytest.fixture
def public_client(db: None) -> TenantAPIClient:
    """API client whose requests go to the public host."""
    return TenantAPIClient(None)


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """``with commit(): <action>`` runs the action's on-commit callbacks (events,
    emails, Celery sends) when the block ends, as a real commit would: the test
    transaction itself never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def captured_events() -> Iterator[list[Any]]:
    """Every domain event dispatched during the test (dispatch happens on
    commit: wrap actions in ``commit()``)."""
    from apps.websocket_server.events import recording_events

    with recording_events() as events:
        yield events


@pytest.fixture
def emitted(commit: Callable[[], Any]) -> Callable[[], Any]:
    """``with emitted() as events: <action>`` → the events the action emitted."""
    from apps.websocket_server.events import recording_events

    @contextmanager
    def capture() -> Iterator[list[Any]]:
        with recording_events() as events, commit():
            yield events

    return capture


#: What ``record`` returns per event: ``(type, op, data, sorted audience or None)``.
RecordedEvents = list[tuple[str, str, dict[str, Any], list[str] | None]]


@pytest.fixture
def record(
    emitted: Callable[[], Any],
) -> Callable[[Callable[[], Any]], tuple[Any, RecordedEvents]]:
    """``record(action)`` → what ``action`` returned and the events it
    emitted, as ``(type, op, data, sorted audience or None)``."""

    def run(action: Callable[[], Any]) -> tuple[Any, RecordedEvents]:
        with emitted() as events:
            result = action()
        return result, [
            (e.type, e.op, e.data, None if e.user_ids is None else sorted(e.user_ids))
            for e in events
        ]

    return run


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run Celery tasks inline (still through apply_async, headers and the
    tenant-schemas-celery schema switch), in the test's transaction, raising
    their errors."""
    from config.celery import app as celery_app

    old = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


@pytest.fixture
def keep_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """For socket tests (``pytest.mark.usefixtures("keep_test_transaction")``):
    Channels closes "old" connections around every DB call; under
    ``async_to_sync`` those calls run on the test's thread, and closing its
    connection would abort the test transaction that the consumers share.
    Only that hygiene step is disabled: resolution, auth and the consumer run
    for real."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


@pytest.fixture
def short_presence_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presence changes are announced in batches of 50 ms instead of the
    production window, so socket tests see them at once."""
    from apps.websocket_server import presence

    monkeypatch.setattr(presence, "BATCH_SECONDS", 0.05)
