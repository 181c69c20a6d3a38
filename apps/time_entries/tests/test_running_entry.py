"""``running_entry`` (a prepared query with its project and task joined):
the ORM's entry, one query, and only the caller's live running one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.organizations.tests.factories import MembershipFactory
from apps.tasks.tests.factories import TaskFactory
from apps.time_entries.models import TimeEntry
from apps.time_entries.selectors import running_entry
from apps.time_entries.tests.factories import TimeEntryFactory

pytestmark = pytest.mark.django_db


def _fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_the_running_entry_with_its_project_and_task_in_one_query(in_tenant):
    me, other = MembershipFactory(organization=in_tenant), MembershipFactory(organization=in_tenant)
    task = TaskFactory()
    TimeEntryFactory(user_id=me.user_id, project=task.project)  # finished
    TimeEntryFactory(user_id=other.user_id, running=True)  # someone else's
    assert running_entry(actor=me) is None

    mine = TimeEntryFactory(user_id=me.user_id, project=task.project, task=task, running=True)
    with CaptureQueriesContext(connection) as queries:
        found = running_entry(actor=me)
        project, found_task = found.project, found.task
    expected = TimeEntry.objects.select_related("project", "task").get(pk=mine.pk)

    assert len(queries) == 1
    assert _fields(found) == _fields(expected)
    assert _fields(project) == _fields(expected.project)
    assert _fields(found_task) == _fields(expected.task)


def test_a_deleted_running_entry_is_not_running(in_tenant):
    me = MembershipFactory(organization=in_tenant)
    entry = TimeEntryFactory(user_id=me.user_id, running=True, task=None)
    assert running_entry(actor=me).task is None

    TimeEntry.all_objects.filter(pk=entry.pk).update(deleted_at=timezone.now())

    assert running_entry(actor=me) is None
