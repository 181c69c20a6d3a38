"""Services refuse bad input themselves (not only the serializers), so every
caller (API, admin, Celery, AI drafts) gets a 400/409 instead of an
IntegrityError, and nothing is written."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from apps.common.errors import ApplicationError, ConflictError
from apps.iam.tests.factories import UserFactory
from apps.projects import services
from apps.projects.models import Project, ProjectDependency

from .factories import ClientFactory, ProjectDependencyFactory, ProjectFactory

pytestmark = pytest.mark.django_db

D = datetime.date


def _fields(exc: pytest.ExceptionInfo[ApplicationError]) -> set[str]:
    return set(exc.value.extra["fields"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {"start_date": datetime.date(2026, 2, 1), "end_date": datetime.date(2026, 1, 1)},
            "end_date",
        ),
        ({"budget_hours": Decimal("-1")}, "budget_hours"),
        ({"budget_amount": Decimal("-1")}, "budget_amount"),
        ({"hourly_rate": Decimal("-0.01")}, "hourly_rate"),
    ],
)
def test_project_create_refuses_what_the_database_would_reject(in_tenant, kwargs, field):
    with pytest.raises(ApplicationError) as exc:
        services.project_create(created_by_id=None, name="X", **kwargs)
    assert exc.value.status_code == 400
    assert _fields(exc) == {field}
    assert not Project.all_objects.exists()


def test_project_create_refuses_a_client_deleted_meanwhile(in_tenant):
    client = ClientFactory()
    client.soft_delete()
    with pytest.raises(ApplicationError) as exc:
        services.project_create(created_by_id=None, name="X", client=client)
    assert _fields(exc) == {"client"}


def test_project_update_checks_the_merged_result(in_tenant):
    project = ProjectFactory(end_date=D(2026, 1, 31))
    with pytest.raises(ApplicationError) as exc:
        services.project_update(project=project, data={"start_date": D(2026, 2, 1)})
    assert _fields(exc) == {"end_date"}
    project.refresh_from_db()
    assert project.start_date is None


def test_project_member_add_outside_any_organization_is_refused(in_tenant):
    with pytest.raises(ApplicationError) as exc:
        services.project_member_add(project=ProjectFactory(), user_id=UserFactory().pk)
    assert exc.value.code == "not_an_organization_member"


def test_dependency_cycle_is_a_conflict(in_tenant):
    a, b, c = ProjectFactory(), ProjectFactory(), ProjectFactory()
    ProjectDependencyFactory(project=b, depends_on=a)
    ProjectDependencyFactory(project=c, depends_on=b)
    with pytest.raises(ConflictError) as exc:
        services.project_dependency_create(project=a, depends_on=c)
    assert (exc.value.status_code, exc.value.code) == (409, "dependency_cycle")
    assert ProjectDependency.objects.count() == 2
