"""PreparedQuery: compiled once per shape, same rows as the ORM for any
values, and loud when values cannot be located in the compiled SQL."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.prepared import PreparedQuery, PreparedQueryError
from apps.projects.models import Project
from apps.projects.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _by_pk(shape, *, pk, created_after):
    query = Project.objects.filter(pk=pk, created_at__gt=created_after)
    return query.filter(is_private=False) if shape == "public" else query


def test_rows_follow_the_values_of_each_call(in_tenant):
    a, b = ProjectFactory(), ProjectFactory(is_private=True)
    prepared = PreparedQuery(_by_pk, pk=uuid.UUID, created_after=datetime.datetime)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    assert [p.pk for p in prepared.run(None, pk=a.pk, created_after=long_ago)] == [a.pk]
    assert [p.pk for p in prepared.run(None, pk=b.pk, created_after=long_ago)] == [b.pk]
    assert prepared.run(None, pk=a.pk, created_after=a.created_at) == []
    assert prepared.run("public", pk=b.pk, created_after=long_ago) == []  # another shape
    assert [p.pk for p in prepared.run("public", pk=a.pk, created_after=long_ago)] == [a.pk]


def test_a_prepared_call_sends_only_its_query(in_tenant):
    project = ProjectFactory()
    prepared = PreparedQuery(_by_pk, pk=uuid.UUID, created_after=datetime.datetime)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    prepared.run(None, pk=project.pk, created_after=long_ago)
    with CaptureQueriesContext(connection) as queries:
        rows = prepared.run(None, pk=project.pk, created_after=long_ago)
    assert len(queries) == 1 and rows[0].name == project.name


def test_a_value_baked_into_the_sql_is_refused(in_tenant):
    def baked(shape, *, pk):
        return Project.objects.extra(where=[f"id <> '{pk}'"])  # the value in the text

    with pytest.raises(PreparedQueryError, match="shape"):
        PreparedQuery(baked, pk=uuid.UUID).run(None, pk=uuid.uuid4())


def test_a_transformed_value_is_refused(in_tenant):
    def transformed(shape, *, pk):
        return Project.objects.filter(name=str(pk)[:8])  # not the value itself

    with pytest.raises(PreparedQueryError, match="transformed"):
        PreparedQuery(transformed, pk=uuid.UUID).run(None, pk=uuid.uuid4())


def test_unknown_parameter_types_are_refused():
    with pytest.raises(PreparedQueryError):
        PreparedQuery(_by_pk, pk=int)


def test_a_uuid_may_come_as_text_and_bad_text_raises(in_tenant):
    project = ProjectFactory()
    prepared = PreparedQuery(_by_pk, pk=uuid.UUID, created_after=datetime.datetime)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    assert [p.pk for p in prepared.run(None, pk=str(project.pk), created_after=long_ago)] == [
        project.pk
    ]
    with pytest.raises(ValueError):
        prepared.run(None, pk="not-a-uuid", created_after=long_ago)


def test_compiled_once_then_run_in_another_tenant_reads_that_tenant(tenant, other_tenant):
    """The SQL is compiled once per process, not per organization: its table
    names are unqualified, so each run reads the schema the connection is on."""
    from django_tenants.utils import tenant_context

    prepared = PreparedQuery(_by_pk, pk=uuid.UUID, created_after=datetime.datetime)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    with tenant_context(tenant):
        mine = ProjectFactory()
        assert [p.pk for p in prepared.run(None, pk=mine.pk, created_after=long_ago)] == [mine.pk]
    with tenant_context(other_tenant):
        theirs = ProjectFactory()
        assert prepared.run(None, pk=mine.pk, created_after=long_ago) == []
        assert [p.pk for p in prepared.run(None, pk=theirs.pk, created_after=long_ago)] == [
            theirs.pk
        ]


def test_rows_are_read_as_the_orm_reads_them(in_tenant):
    """Field converters run (a JSON column comes back as data, not text),
    fields not selected are deferred, annotations become attributes."""
    from django.db.models import F

    from apps.tasks.models import TaskActivity
    from apps.tasks.tests.factories import TaskFactory

    task = TaskFactory()
    activity = TaskActivity.objects.create(
        task=task, verb="updated", changes={"title": ["a", "b"], "n": [1, 2.5]}
    )

    def with_title(shape, *, pk):
        return (
            TaskActivity.objects.filter(pk=pk)
            .only("id", "changes")
            .annotate(task_title=F("task__title"))
        )

    [row] = PreparedQuery(with_title, pk=uuid.UUID).run(None, pk=activity.pk)
    assert row.changes == {"title": ["a", "b"], "n": [1, 2.5]}
    assert row.task_title == task.title
    assert row.get_deferred_fields() >= {"verb", "created_at"}
    assert row.verb == "updated"  # loaded on access, as a deferred field is


def test_a_query_without_the_primary_key_is_refused(in_tenant):
    def names(shape, *, pk):
        return Project.objects.filter(pk=pk).values("name")

    project = ProjectFactory()
    with pytest.raises(PreparedQueryError, match="primary key"):
        PreparedQuery(names, pk=uuid.UUID).run(None, pk=project.pk)


def _fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_select_related_is_read_as_django_reads_it(tenant, other_tenant):
    """``membership_for`` (apps/organizations/selectors.py) is a prepared
    query with ``select_related``: the membership and its organization equal
    the ORM's, the organization costs no second query, inactive or foreign
    memberships are not found."""
    from apps.organizations.constants import MembershipStatus
    from apps.organizations.models import Membership
    from apps.organizations.selectors import membership_for
    from apps.organizations.tests.factories import MembershipFactory

    mine = MembershipFactory(organization=tenant, role="manager")
    MembershipFactory(organization=other_tenant, user=mine.user, status=MembershipStatus.ACTIVE)
    left = MembershipFactory(organization=tenant, status=MembershipStatus.DEACTIVATED)

    with CaptureQueriesContext(connection) as queries:
        found = membership_for(user=mine.user, organization=tenant)
        organization = found.organization
    expected = Membership.objects.select_related("organization").get(pk=mine.pk)

    assert len(queries) == 1
    assert _fields(found) == _fields(expected)
    assert _fields(organization) == _fields(expected.organization)
    assert organization._stored_currency == expected.organization._stored_currency
    assert not found._state.adding and not organization._state.adding
    assert membership_for(user=mine.user, organization=other_tenant).organization == other_tenant
    assert membership_for(user=left.user, organization=tenant) is None
