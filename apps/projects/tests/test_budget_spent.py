"""Budget consumption (``budget.spent_hours`` / ``budget.spent_amount``): the
live totals of a project's entries, one aggregate query per page, the same
numbers on the list and the detail, money only for ``rates.view``."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import app_queries, expect
from apps.time_entries.reports.tests.factories import make_entry

from .factories import ClientFactory, ProjectFactory, client_as

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 2, 9, tzinfo=datetime.UTC)


def _budget(client: Any, project: Any) -> dict[str, Any]:
    return expect(client.get(f"/api/v1/projects/{project.pk}/"), 200)["budget"]


def _listed(client: Any, path: str = "/api/v1/projects/") -> dict[str, dict[str, Any]]:
    return {row["id"]: row["budget"] for row in expect(client.get(path), 200)["results"]}


def _hours(n: int) -> datetime.datetime:
    return START + datetime.timedelta(hours=n)


def test_spent_counts_finished_live_entries_only(in_tenant):
    """1 h 30 billable at 100/h + 20 min non-billable; a soft-deleted hour and
    a running timer are not counted."""
    project = ProjectFactory(budget_hours=Decimal("10"), budget_amount=Decimal("1000"))
    manager = client_as(in_tenant, "manager")
    user = manager.user.pk
    make_entry(user_id=user, project=project, start=_hours(0), seconds=5400, rate="100")
    make_entry(
        user_id=user, project=project, start=_hours(2), seconds=1200, rate="100", billable=False
    )
    make_entry(
        user_id=user, project=project, start=_hours(3), seconds=3600, rate="100", deleted=True
    )
    make_entry(user_id=user, project=project, start=_hours(5), seconds=None, rate="100")

    budget = _budget(manager, project)

    assert budget == {
        "hours": "10.00",
        "amount": "1000.00",
        "spent_hours": "1.83",  # 6600 s
        "spent_amount": "150.00",
    }
    assert _listed(manager)[str(project.pk)] == budget


def test_a_project_without_time_has_spent_nothing(in_tenant):
    project = ProjectFactory(budget_hours=Decimal("5"))
    budget = _budget(client_as(in_tenant, "owner"), project)
    assert (budget["spent_hours"], budget["spent_amount"]) == ("0.00", "0.00")


@pytest.mark.parametrize("role", ["viewer", "member"])
@pytest.mark.parametrize("members_see_rates", [False, True])
def test_spent_amount_is_money_of_everyone_so_rates_view_only(in_tenant, role, members_see_rates):
    """A project's spent amount is made of everybody's time: members do not
    see it even when they may see their own amounts."""
    in_tenant.members_see_rates = members_see_rates
    in_tenant.save(update_fields=["members_see_rates"])
    project = ProjectFactory(budget_amount=Decimal("900"))
    reader = client_as(in_tenant, role)
    make_entry(user_id=reader.user.pk, project=project, start=_hours(0), seconds=3600, rate="90")

    budget = _budget(reader, project)

    assert budget == {"hours": None, "spent_hours": "1.00"}
    assert _listed(reader)[str(project.pk)] == budget


def test_spent_amount_is_in_the_projects_currency(in_tenant):
    usd = ProjectFactory(client=ClientFactory(currency="USD"))
    owner = client_as(in_tenant, "owner")
    make_entry(user_id=owner.user.pk, project=usd, start=_hours(0), seconds=3600, rate="70")
    data = expect(owner.get(f"/api/v1/projects/{usd.pk}/"), 200)
    assert (data["currency"], data["budget"]["spent_amount"]) == ("USD", "70.00")


def _entry_queries(client: Any, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        expect(client.get(path), 200)
    return [q["sql"] for q in app_queries(ctx)]


def test_one_aggregate_per_page_whatever_the_page_size(in_tenant):
    manager = client_as(in_tenant, "manager")
    manager.get("/api/v1/projects/")  # warm the host cache

    def add_projects(n: int) -> None:
        for _ in range(n):
            project = ProjectFactory(budget_hours=Decimal("1"))
            make_entry(
                user_id=manager.user.pk,
                project=project,
                start=_hours(len(_created)),
                seconds=60,
                rate="60",
            )
            _created.append(project)

    _created: list[Any] = []
    add_projects(2)
    few = _entry_queries(manager, "/api/v1/projects/")
    add_projects(18)
    many = _entry_queries(manager, "/api/v1/projects/")

    assert len(many) == len(few), (few, many)
    touching_entries = [sql for sql in many if "time_entries_timeentry" in sql]
    assert len(touching_entries) == 1, touching_entries
    assert "GROUP BY" in touching_entries[0]
    assert {b["spent_amount"] for b in _listed(manager).values()} == {"1.00"}


def test_another_organizations_time_never_counts(in_tenant, other_tenant):
    """The aggregate runs in the caller's schema: globex's entries on its own
    project (same name, same budget) are not acme's budget spent."""
    from django_tenants.utils import tenant_context

    project = ProjectFactory(name="Shared name", budget_hours=Decimal("5"))
    owner = client_as(in_tenant, "owner")
    make_entry(user_id=owner.user.pk, project=project, start=_hours(0), seconds=1800, rate="10")
    with tenant_context(other_tenant):
        theirs = ProjectFactory(name="Shared name", budget_hours=Decimal("5"))
        make_entry(user_id=owner.user.pk, project=theirs, start=_hours(2), seconds=7200, rate="99")

    assert _listed(owner)[str(project.pk)] == {
        "hours": "5.00",
        "amount": None,
        "spent_hours": "0.50",
        "spent_amount": "5.00",
    }
    assert str(theirs.pk) not in _listed(owner)
