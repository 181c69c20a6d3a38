"""Concurrency: 50 parallel timer starts of one user leave exactly one running
timer, with the per-user lock and, when the lock is bypassed, with the
database constraints alone (mapped to 409 codes, never a 500).

The writes must be committed for other connections to see them, so these
tests run their work on separate threads/connections in autocommit mode and
delete what they created afterwards (``transactional_db`` would flush the
session tenants).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django_tenants.utils import tenant_context

from apps.common.errors import ApplicationError
from apps.iam.tests.factories import UserFactory
from apps.organizations.models import Membership
from apps.projects.models import Client, Project
from apps.time_entries import hot_path
from apps.time_entries.models import TimeEntry
from apps.time_entries.services.timer import timer_start
from tenants.testing import committed

pytestmark = pytest.mark.django_db

PARALLEL = 50


@pytest.fixture
def racer(tenant, django_db_blocker) -> Iterator[dict[str, Any]]:
    """A committed member of ``acme`` and a committed project, removed afterwards."""

    def create() -> dict[str, Any]:
        user = UserFactory()
        membership = Membership.objects.create(user=user, organization=tenant, role="member")
        with tenant_context(tenant):
            project = Project.objects.create(name=f"Race {user.pk}")
        return {"user": user, "membership": membership, "project": project}

    def delete(made: dict[str, Any]) -> None:
        with tenant_context(tenant):
            TimeEntry.all_objects.filter(user_id=made["user"].pk).delete()
            Project.all_objects.filter(pk=made["project"].pk).delete()
            Client.all_objects.filter(projects__isnull=True, name__startswith="Race").delete()
        made["membership"].delete()
        made["user"].delete()

    made = committed(django_db_blocker, create)
    try:
        yield made
    finally:
        committed(django_db_blocker, lambda: delete(made))


def _race(blocker: Any, tenant: Any, racer: dict[str, Any]) -> list[Any]:
    """``PARALLEL`` threads start the same user's timer at once; returns each
    thread's outcome (the entry id, or the error code)."""
    barrier = threading.Barrier(PARALLEL)
    outcomes: list[Any] = [None] * PARALLEL

    def start(i: int) -> None:
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=30)
                entry = timer_start(actor=racer["membership"], project_id=racer["project"].pk)
                outcomes[i] = entry.pk
        except ApplicationError as exc:
            outcomes[i] = exc.code
        except BaseException as exc:  # reported, not swallowed
            outcomes[i] = exc
        finally:
            connections.close_all()

    with blocker.unblock():
        threads = [threading.Thread(target=start, args=(i,)) for i in range(PARALLEL)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return outcomes


def _state(blocker: Any, tenant: Any, user_id: Any) -> tuple[int, int]:
    def read() -> tuple[int, int]:
        with tenant_context(tenant):
            entries = TimeEntry.objects.filter(user_id=user_id)
            return entries.filter(ended_at__isnull=True).count(), entries.count()

    return committed(blocker, read)


def test_fifty_parallel_starts_leave_one_running_timer(tenant, racer, django_db_blocker):
    outcomes = _race(django_db_blocker, tenant, racer)

    # The user lock serialises the starts: each stops the previous one.
    assert all(not isinstance(o, (str, BaseException)) for o in outcomes), outcomes
    assert _state(django_db_blocker, tenant, racer["user"].pk) == (1, PARALLEL)


def test_without_the_lock_the_database_still_allows_one_running_timer(
    tenant, racer, django_db_blocker, monkeypatch
):
    # Simulate a writer that skips the per-user lock (a bug, a raw import):
    # only the partial unique index and the exclusion constraint remain. The
    # start takes the lock in its project query: a key of its own per call
    # serialises nothing.
    monkeypatch.setattr(hot_path, "user_time_lock_key", lambda user_id: f"none:{uuid.uuid4()}")

    outcomes = _race(django_db_blocker, tenant, racer)

    unexpected = [o for o in outcomes if isinstance(o, BaseException)]
    assert not unexpected, unexpected
    refused = [o for o in outcomes if isinstance(o, str)]
    assert set(refused) <= {"timer_already_running", "entry_overlap"}
    running, total = _state(django_db_blocker, tenant, racer["user"].pk)
    assert running == 1
    assert total == PARALLEL - len(refused)
