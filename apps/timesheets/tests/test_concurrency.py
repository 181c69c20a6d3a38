"""Concurrency: time-entry edits racing a submission and an approval.

The issue's rule: an edit either lands before the approval (and is in its
snapshot) or is refused — never an edit inside an approved sheet. Editors go
through the real write path of apps.time_entries (``entry_update`` /
``entry_create``: ``user_time_lock`` + ``locking_timesheet``), the approver
through ``timesheet_submit`` / ``timesheet_approve`` (same lock), all on
separate connections in autocommit, so every write really commits.

These tests commit, so they clean up after themselves (``transactional_db``
would flush the session tenants).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.db.models import Sum
from django_tenants.utils import tenant_context

from apps.common.errors import ApplicationError
from apps.iam.tests.factories import UserFactory
from apps.organizations.models import Membership
from apps.projects.models import Client, Project
from apps.time_entries import services as entry_services
from apps.time_entries.models import TimeEntry
from apps.timesheets import services
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet
from tenants.testing import committed

pytestmark = pytest.mark.django_db

EDITORS = 8
EDITS_PER_EDITOR = 15
MONDAY = datetime.date(2026, 11, 2)
UTC = datetime.UTC


def _slot(i: int) -> datetime.datetime:
    """Editor ``i`` owns the hour starting here (no two editors can overlap)."""
    return datetime.datetime.combine(MONDAY, datetime.time(0), tzinfo=UTC) + datetime.timedelta(
        hours=i
    )


@pytest.fixture
def world(tenant, django_db_blocker) -> Iterator[dict[str, Any]]:
    """Committed: a member with one 10-minute entry per editor in a draft
    sheet, and a manager; all removed afterwards."""

    def create() -> dict[str, Any]:
        user, boss = UserFactory(), UserFactory()
        member = Membership.objects.create(user=user, organization=tenant, role="member")
        manager = Membership.objects.create(user=boss, organization=tenant, role="manager")
        with tenant_context(tenant):
            project = Project.objects.create(name=f"Race {user.pk}")
            entries = [
                TimeEntry.objects.create(
                    user_id=user.pk,
                    project=project,
                    started_at=_slot(i),
                    ended_at=_slot(i) + datetime.timedelta(minutes=10),
                    duration_seconds=600,
                )
                for i in range(EDITORS)
            ]
            sheet = Timesheet.objects.create(
                user_id=user.pk, period_start=MONDAY, period_end=MONDAY + datetime.timedelta(days=6)
            )
        return {
            "member": member,
            "manager": manager,
            "project": project,
            "entries": entries,
            "sheet": sheet,
        }

    def delete(made: dict[str, Any]) -> None:
        with tenant_context(tenant):
            TimeEntry.all_objects.filter(user_id=made["member"].user_id).delete()
            Timesheet.objects.filter(user_id=made["member"].user_id).delete()
            Project.all_objects.filter(pk=made["project"].pk).delete()
            Client.all_objects.filter(projects__isnull=True, name__startswith="Race").delete()
        for key in ("member", "manager"):
            user = made[key].user
            made[key].delete()
            user.delete()

    made = committed(django_db_blocker, create)
    try:
        yield made
    finally:
        committed(django_db_blocker, lambda: delete(made))


def _race(blocker: Any, tenant: Any, world: dict[str, Any]) -> dict[str, Any]:
    """Editors keep changing their entry's length (and adding entries) while
    the owner submits and a manager approves; returns what each side saw."""
    barrier = threading.Barrier(EDITORS + 1)
    edits: list[list[Any]] = [[] for _ in range(EDITORS)]
    decision: dict[str, Any] = {}

    def edit(i: int) -> None:
        entry = world["entries"][i]
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=30)
                for k in range(EDITS_PER_EDITOR):
                    try:
                        if k % 5 == 4:  # now and then a new entry in the editor's slot
                            start = _slot(i) + datetime.timedelta(minutes=40 + k)
                            entry_services.entry_create(
                                actor=world["member"],
                                data={
                                    "project": world["project"].pk,
                                    "started_at": start,
                                    "ended_at": start + datetime.timedelta(seconds=30),
                                },
                            )
                        else:
                            entry_services.entry_update(
                                actor=world["member"],
                                entry=entry,
                                data={"ended_at": _slot(i) + datetime.timedelta(minutes=11 + k)},
                            )
                        edits[i].append("ok")
                    except ApplicationError as exc:
                        edits[i].append(exc.code)
        except BaseException as exc:  # reported, not swallowed
            edits[i].append(exc)
        finally:
            connections.close_all()

    def decide() -> None:
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=30)
                time.sleep(0.2)  # let some edits land first: both outcomes occur
                sheet = Timesheet.objects.get(pk=world["sheet"].pk)
                services.timesheet_submit(timesheet=sheet, actor=world["member"])
                services.timesheet_approve(timesheet=sheet, actor=world["manager"])
                decision["sheet"] = sheet
        except BaseException as exc:
            decision["error"] = exc
        finally:
            connections.close_all()

    with blocker.unblock():
        threads = [threading.Thread(target=edit, args=(i,)) for i in range(EDITORS)]
        threads.append(threading.Thread(target=decide))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {"edits": edits, **decision}


def test_edits_racing_an_approval_land_before_it_or_are_refused(tenant, world, django_db_blocker):
    outcome = _race(django_db_blocker, tenant, world)
    assert "error" not in outcome, outcome.get("error")
    flat = [o for per_editor in outcome["edits"] for o in per_editor]
    assert not [o for o in flat if isinstance(o, BaseException)], flat
    assert set(flat) <= {"ok", "entry_locked"}, set(flat)
    assert "entry_locked" in flat  # the approval did win over later edits
    # Once an editor was refused it was refused for good: no edit after the lock.
    for per_editor in outcome["edits"]:
        if "entry_locked" in per_editor:
            first = per_editor.index("entry_locked")
            assert set(per_editor[first:]) == {"entry_locked"}, per_editor

    def read() -> dict[str, Any]:
        with tenant_context(tenant):
            sheet = Timesheet.objects.get(pk=world["sheet"].pk)
            entries = TimeEntry.objects.filter(user_id=world["member"].user_id)
            return {
                "sheet": sheet,
                "sum": entries.aggregate(total=Sum("duration_seconds"))["total"],
                "last_write": max(e.updated_at for e in entries),
                "count": entries.count(),
                "linked": entries.filter(timesheet=sheet).count(),
            }

    state = committed(django_db_blocker, read)
    sheet = state["sheet"]
    assert sheet.status == TimesheetStatus.APPROVED
    # The snapshot equals what is stored now: nothing changed after approval...
    assert sheet.approved_total_seconds == state["sum"]
    # ...and nothing was even written after the submission locked the period.
    assert state["last_write"] <= sheet.submitted_at <= sheet.decided_at
    assert state["linked"] == state["count"]
    created = sum(
        1
        for per_editor in outcome["edits"]
        for k, o in enumerate(per_editor)
        if o == "ok" and k % 5 == 4
    )
    assert state["count"] == EDITORS + created


def test_edits_after_approval_are_refused_and_change_nothing(tenant, world, django_db_blocker):
    def approve() -> Any:
        with tenant_context(tenant):
            sheet = Timesheet.objects.get(pk=world["sheet"].pk)
            services.timesheet_submit(timesheet=sheet, actor=world["member"])
            return services.timesheet_approve(timesheet=sheet, actor=world["manager"])

    sheet = committed(django_db_blocker, approve)
    assert sheet.approved_total_seconds == 600 * EDITORS
    outcome = _race_edits_only(django_db_blocker, tenant, world)
    assert set(outcome) == {"entry_locked"}

    def total() -> int:
        with tenant_context(tenant):
            return TimeEntry.objects.filter(user_id=world["member"].user_id).aggregate(
                total=Sum("duration_seconds")
            )["total"]

    assert committed(django_db_blocker, total) == 600 * EDITORS


def _race_edits_only(blocker: Any, tenant: Any, world: dict[str, Any]) -> list[Any]:
    outcomes: list[Any] = [None] * EDITORS

    def edit(i: int) -> None:
        try:
            with tenant_context(tenant):
                entry_services.entry_update(
                    actor=world["member"],
                    entry=world["entries"][i],
                    data={"ended_at": _slot(i) + datetime.timedelta(minutes=30)},
                )
                outcomes[i] = "ok"
        except ApplicationError as exc:
            outcomes[i] = exc.code
        except BaseException as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    with blocker.unblock():
        threads = [threading.Thread(target=edit, args=(i,)) for i in range(EDITORS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return outcomes
