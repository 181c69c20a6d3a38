"""The hostile walk rolls every request back, so it has to do what a commit
would: check deferred constraints and run ``on_commit`` callbacks. These
prove its two helpers make such failures visible (without them, both cases
below pass silently inside a rolled-back savepoint)."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from tests.fuzz.test_hostile_walk import _constraints_immediate, _run_on_commit

pytestmark = pytest.mark.django_db


def _dangling_membership() -> None:
    """A row whose foreign keys name no row (Django's FKs are DEFERRABLE
    INITIALLY DEFERRED: PostgreSQL would only refuse it at commit)."""
    from apps.organizations.models import Membership

    Membership.objects.bulk_create([Membership(organization_id=uuid.uuid4(), user_id=uuid.uuid4())])


def test_without_the_walks_check_a_dangling_foreign_key_goes_unseen():
    with transaction.atomic():
        _dangling_membership()  # accepted: the check waits for a commit that never comes
        transaction.set_rollback(True)


def test_with_constraints_immediate_a_dangling_foreign_key_fails_at_once():
    with pytest.raises(IntegrityError), transaction.atomic():
        _constraints_immediate()
        _dangling_membership()


def test_on_commit_callbacks_of_a_request_run_and_their_failure_is_reported():
    ran: list[str] = []

    def fails() -> None:
        raise RuntimeError("task broke")

    with transaction.atomic():
        start = len(connection.run_on_commit)
        transaction.on_commit(lambda: ran.append("first"))
        transaction.on_commit(fails, robust=True)  # Django would only log it
        count, failure = _run_on_commit(start)
        transaction.set_rollback(True)
    assert (ran, count) == (["first"], 2)
    assert failure is not None and "task broke" in failure


def test_callbacks_registered_by_callbacks_run_too():
    ran: list[str] = []
    with transaction.atomic():
        start = len(connection.run_on_commit)
        transaction.on_commit(lambda: transaction.on_commit(lambda: ran.append("nested")))
        assert _run_on_commit(start) == (2, None)
        transaction.set_rollback(True)
    assert ran == ["nested"]
