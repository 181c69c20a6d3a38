"""The session's user (``LockoutBackend.get_user``, a prepared query): the
same user the ORM loads, one query, and no user for an inactive, deleted or
malformed id."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.iam.lockout import LockoutBackend
from apps.iam.models import User
from apps.iam.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _fields(user):
    return {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}


def test_the_session_user_is_the_orms_in_one_query():
    user = UserFactory()
    backend = LockoutBackend()
    backend.get_user(user.pk)  # compiled on first use

    with CaptureQueriesContext(connection) as queries:
        found = backend.get_user(str(user.pk))

    assert len(queries) == 1
    assert _fields(found) == _fields(User.objects.get(pk=user.pk))
    assert not found._state.adding


def test_no_user_for_an_inactive_a_deleted_or_a_malformed_id():
    backend = LockoutBackend()
    inactive = UserFactory(is_active=False)

    assert backend.get_user(inactive.pk) is None
    assert backend.get_user(uuid.uuid4()) is None
    assert backend.get_user("not-a-uuid") is None
