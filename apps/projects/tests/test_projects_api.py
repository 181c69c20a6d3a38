"""Projects on the organization host: RBAC matrix, visibility, rates, bad input,
soft delete and restore, filters, isolation and constant query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.common.testing import MANAGER_WRITE_MATRIX, expect
from apps.projects.models import Project
from apps.projects.selectors import project_accepts_time

from .factories import ClientFactory, ProjectFactory, ProjectMemberFactory, client_as

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "member", "manager", "admin", "owner"]
MANAGERS = ["manager", "admin", "owner"]


def _rows(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _snapshot() -> list[dict[str, Any]]:
    return list(Project.all_objects.order_by("id").values())


# --- read and write matrix ------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]
    + [(r, 200, None) for r in ROLES],
)
def test_read_matrix(in_tenant, role, status, code):
    project = ProjectFactory(name="Website")
    client = client_as(in_tenant, role)

    listed = client.get("/api/v1/projects/")
    detail = client.get(f"/api/v1/projects/{project.pk}/")

    expect(listed, status, code)
    expect(detail, status, code)
    if status == 200:
        assert [r["id"] for r in listed.json()["results"]] == [str(project.pk)]
        assert detail.json()["name"] == "Website"


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_create_matrix(in_tenant, role, status, code):
    response = client_as(in_tenant, role).post(
        "/api/v1/projects/", {"name": "New site"}, format="json"
    )

    if status:
        expect(response, status, code)
        assert not Project.all_objects.exists()
    else:
        expect(response, 201)
        assert Project.objects.get().name == "New site"


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_update_matrix(in_tenant, role, status, code):
    project = ProjectFactory(name="Website")
    before = _snapshot()

    response = client_as(in_tenant, role).patch(
        f"/api/v1/projects/{project.pk}/", {"name": "Renamed"}, format="json"
    )

    if status:
        expect(response, status, code)
        assert _snapshot() == before
    else:
        expect(response, 200)
        assert response.json()["name"] == "Renamed"
        project.refresh_from_db()
        assert project.name == "Renamed"


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_delete_and_restore_matrix(in_tenant, role, status, code):
    project = ProjectFactory()
    deleted = ProjectFactory(deleted_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    before = _snapshot()
    client = client_as(in_tenant, role)

    removal = client.delete(f"/api/v1/projects/{project.pk}/")
    restore = client.post(f"/api/v1/projects/{deleted.pk}/restore/")

    if status:
        expect(removal, status, code)
        expect(restore, status, code)
        assert _snapshot() == before
    else:
        expect(removal, 204)
        expect(restore, 200)
        assert set(Project.objects.values_list("pk", flat=True)) == {deleted.pk}


# --- visibility -----------------------------------------------------------------------


def _visibility_setup(client: Any) -> dict[str, Project]:
    projects = {
        "public": ProjectFactory(name="Public"),
        "private_mine": ProjectFactory(name="Private mine", is_private=True),
        "private_other": ProjectFactory(name="Private other", is_private=True),
    }
    ProjectMemberFactory(project=projects["private_mine"], user_id=client.user.pk)
    return projects


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("viewer", {"Public", "Private mine"}),
        ("member", {"Public", "Private mine"}),
        ("manager", {"Public", "Private mine", "Private other"}),
        ("admin", {"Public", "Private mine", "Private other"}),
        ("owner", {"Public", "Private mine", "Private other"}),
    ],
)
def test_visibility_by_role(in_tenant, role, visible):
    client = client_as(in_tenant, role)
    projects = _visibility_setup(client)

    names = {r["name"] for r in _rows(client.get("/api/v1/projects/"))}
    hidden = client.get(f"/api/v1/projects/{projects['private_other'].pk}/")

    assert names == visible
    if "Private other" in visible:
        expect(hidden, 200)
    else:
        expect(hidden, 404, "not_found")


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_a_hidden_private_project_cannot_be_reached_through_its_children(in_tenant, role):
    client = client_as(in_tenant, role)
    projects = _visibility_setup(client)
    hidden = projects["private_other"].pk

    for path in ("members", "milestones", "dependencies"):
        expect(client.get(f"/api/v1/projects/{hidden}/{path}/"), 404, "not_found")
    expect(client.post(f"/api/v1/projects/{hidden}/restore/"), 403, "role_required")


def test_viewer_of_own_private_project_still_cannot_write_it(in_tenant):
    client = client_as(in_tenant, "viewer")
    projects = _visibility_setup(client)
    mine = projects["private_mine"]

    expect(
        client.patch(f"/api/v1/projects/{mine.pk}/", {"name": "X"}, format="json"),
        403,
        "role_required",
    )
    mine.refresh_from_db()
    assert mine.name == "Private mine"


# --- representation and rates ------------------------------------------------------------


def test_representation_for_a_manager(in_tenant):
    acme_client = ClientFactory(name="Initech", currency="EUR")
    project = ProjectFactory(
        name="Website",
        code="WEB",
        client=acme_client,
        start_date=datetime.date(2026, 3, 1),
        end_date=datetime.date(2026, 4, 30),
        budget_hours=Decimal("120.00"),
        budget_amount=Decimal("15000.00"),
        hourly_rate=Decimal("125.00"),
    )

    data = client_as(in_tenant, "manager").get(f"/api/v1/projects/{project.pk}/").json()

    assert data["client"] == str(acme_client.pk)
    assert data["client_name"] == "Initech"
    assert data["currency"] == "EUR"
    assert (data["status"], data["is_archived"], data["billable"]) == ("active", False, True)
    assert (data["start_date"], data["end_date"]) == ("2026-03-01", "2026-04-30")
    assert (data["budget_hours"], data["budget_amount"]) == ("120.00", "15000.00")
    assert data["hourly_rate"] == "125.00"
    assert data["budget"] == {
        "hours": "120.00",
        "amount": "15000.00",
        "spent_hours": "0.00",
        "spent_amount": "0.00",
    }


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_rates_and_money_are_hidden_without_rates_view(in_tenant, role):
    project = ProjectFactory(budget_hours=Decimal("10"), budget_amount=Decimal("900"))

    listed = _rows(client_as(in_tenant, role).get("/api/v1/projects/"))[0]
    detail = client_as(in_tenant, role).get(f"/api/v1/projects/{project.pk}/").json()

    for data in (listed, detail):
        assert "hourly_rate" not in data
        assert "budget_amount" not in data
        assert data["budget"] == {"hours": "10.00", "spent_hours": "0.00"}


def test_currency_falls_back_to_the_organization(in_tenant):
    project = ProjectFactory(client=None)
    data = client_as(in_tenant, "member").get(f"/api/v1/projects/{project.pk}/").json()
    assert data["currency"] == in_tenant.currency
    assert (data["client"], data["client_name"]) == (None, None)


def test_create_with_every_field(in_tenant):
    acme_client = ClientFactory()
    client = client_as(in_tenant, "manager")

    response = client.post(
        "/api/v1/projects/",
        {
            "name": "  Mobile app ",
            "code": "APP",
            "client": str(acme_client.pk),
            "description": "iOS and Android",
            "color": "#ABCDEF",
            "status": "planned",
            "start_date": "2026-05-01",
            "end_date": "2026-05-01",
            "budget_hours": "0",
            "budget_amount": "5000.50",
            "hourly_rate": "90",
            "billable": False,
            "is_private": True,
        },
        format="json",
    )

    expect(response, 201)
    project = Project.objects.get()
    assert response.json()["id"] == str(project.pk)
    assert (project.name, project.code, project.client_id) == ("Mobile app", "APP", acme_client.pk)
    assert (project.color, project.status, project.is_private) == ("#abcdef", "planned", True)
    assert project.start_date == project.end_date == datetime.date(2026, 5, 1)
    assert (project.budget_hours, project.budget_amount) == (Decimal("0"), Decimal("5000.50"))
    assert (project.hourly_rate, project.billable) == (Decimal("90"), False)
    assert project.created_by_id == client.user.pk


def test_patch_leaves_unsent_fields_alone(in_tenant):
    project = ProjectFactory(status="planned", color="#123456", billable=False)
    response = client_as(in_tenant, "manager").patch(
        f"/api/v1/projects/{project.pk}/", {"description": "Now with scope"}, format="json"
    )
    expect(response, 200)
    project.refresh_from_db()
    assert (project.status, project.color, project.billable) == ("planned", "#123456", False)
    assert project.description == "Now with scope"


def test_archiving_is_a_status(in_tenant):
    project = ProjectFactory()
    response = client_as(in_tenant, "manager").patch(
        f"/api/v1/projects/{project.pk}/", {"status": "archived"}, format="json"
    )
    assert response.json()["is_archived"] is True
    project.refresh_from_db()
    assert project_accepts_time(project) is False


@pytest.mark.parametrize(
    ("status", "deleted", "accepts"),
    [
        ("planned", False, True),
        ("active", False, True),
        ("on_hold", False, True),
        ("completed", False, True),
        ("archived", False, False),
        ("active", True, False),
    ],
)
def test_project_accepts_time(in_tenant, status, deleted, accepts):
    project = ProjectFactory(status=status)
    if deleted:
        project.soft_delete()
    assert project_accepts_time(project) is accepts


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "start_date": "2026-05-02", "end_date": "2026-05-01"}, "end_date"),
        ({"name": "X", "budget_hours": "-1"}, "budget_hours"),
        ({"name": "X", "budget_amount": "-0.01"}, "budget_amount"),
        ({"name": "X", "hourly_rate": "-5"}, "hourly_rate"),
        ({"name": "X", "hourly_rate": "abc"}, "hourly_rate"),
        ({"name": "X", "budget_hours": "100000000"}, "budget_hours"),
        ({"name": "X", "color": "red"}, "color"),
        ({"name": "X", "status": "finished"}, "status"),
        ({"name": "X", "start_date": "2026-02-30"}, "start_date"),
        ({"name": "X", "client": "00000000-0000-0000-0000-000000000000"}, "client"),
        ({"name": "X", "client": "not-a-uuid"}, "client"),
        ({"name": "   "}, "name"),
        ({"name": "X" * 201}, "name"),
        ({}, "name"),
    ],
)
def test_bad_input_on_create_is_400_and_writes_nothing(in_tenant, payload, field):
    response = client_as(in_tenant, "manager").post("/api/v1/projects/", payload, format="json")

    expect(response, 400)
    assert field in response.json()["fields"], response.json()
    assert not Project.all_objects.exists()


def test_patch_checks_dates_against_the_stored_ones(in_tenant):
    project = ProjectFactory(start_date=datetime.date(2026, 5, 10))
    before = _snapshot()

    response = client_as(in_tenant, "manager").patch(
        f"/api/v1/projects/{project.pk}/", {"end_date": "2026-05-09"}, format="json"
    )

    expect(response, 400, "invalid")
    assert response.json()["fields"] == {"end_date": ["The end date is before the start date."]}
    assert _snapshot() == before


def test_a_deleted_client_is_an_unknown_client(in_tenant):
    gone = ClientFactory()
    gone.soft_delete()
    response = client_as(in_tenant, "manager").post(
        "/api/v1/projects/", {"name": "X", "client": str(gone.pk)}, format="json"
    )
    expect(response, 400)
    assert "client" in response.json()["fields"]


def test_names_are_unique_per_client_ignoring_case(in_tenant):
    initech = ClientFactory()
    ProjectFactory(name="Website", client=initech)
    ProjectFactory(name="Intranet", client=None)
    client = client_as(in_tenant, "manager")

    same_client = client.post(
        "/api/v1/projects/", {"name": "WEBSITE", "client": str(initech.pk)}, format="json"
    )
    no_client = client.post("/api/v1/projects/", {"name": "intranet"}, format="json")
    other_client = client.post("/api/v1/projects/", {"name": "Website"}, format="json")

    expect(same_client, 409, "name_taken")
    assert "name" in same_client.json()["fields"]
    expect(no_client, 409, "name_taken")
    expect(other_client, 201)
    assert Project.objects.count() == 3


# --- soft delete and restore ---------------------------------------------------------


def test_soft_delete_hides_and_restore_brings_back(in_tenant):
    project = ProjectFactory(name="Website")
    client = client_as(in_tenant, "manager")

    expect(client.delete(f"/api/v1/projects/{project.pk}/"), 204)

    assert _rows(client.get("/api/v1/projects/")) == []
    expect(client.get(f"/api/v1/projects/{project.pk}/"), 404)
    expect(client.patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json"), 404)
    trash = _rows(client.get("/api/v1/projects/?deleted=true"))
    assert [r["id"] for r in trash] == [str(project.pk)]
    assert trash[0]["deleted_at"] is not None
    project.refresh_from_db()
    assert project_accepts_time(project) is False

    restored = client.post(f"/api/v1/projects/{project.pk}/restore/")

    expect(restored, 200)
    assert restored.json()["deleted_at"] is None
    assert [r["name"] for r in _rows(client.get("/api/v1/projects/"))] == ["Website"]
    assert _rows(client.get("/api/v1/projects/?deleted=true")) == []


def test_restoring_a_live_project_changes_nothing(in_tenant):
    project = ProjectFactory()
    before = _snapshot()
    expect(client_as(in_tenant, "manager").post(f"/api/v1/projects/{project.pk}/restore/"), 200)
    assert _snapshot() == before


def test_restore_refuses_a_name_taken_meanwhile(in_tenant):
    project = ProjectFactory(name="Website", client=None)
    project.soft_delete()
    ProjectFactory(name="website", client=None)
    before = _snapshot()

    response = client_as(in_tenant, "manager").post(f"/api/v1/projects/{project.pk}/restore/")

    expect(response, 409, "name_taken")
    assert _snapshot() == before


def test_restore_refuses_a_project_whose_client_is_deleted(in_tenant):
    project = ProjectFactory()
    project.soft_delete()
    project.client.soft_delete()
    before = _snapshot()

    response = client_as(in_tenant, "manager").post(f"/api/v1/projects/{project.pk}/restore/")

    expect(response, 409, "client_deleted")
    assert _snapshot() == before


def test_unknown_and_malformed_ids_are_404(in_tenant):
    client = client_as(in_tenant, "owner")
    unknown = "00000000-0000-0000-0000-000000000000"
    expect(client.get(f"/api/v1/projects/{unknown}/"), 404, "not_found")
    expect(client.get("/api/v1/projects/nope/"), 404)
    expect(client.post(f"/api/v1/projects/{unknown}/restore/"), 404)


# --- filters, ordering, pagination ------------------------------------------------------


def test_filters(in_tenant):
    initech = ClientFactory()
    ProjectFactory(name="Website", code="WEB", client=initech, status="active")
    ProjectFactory(name="Mobile", code="APP", client=None, status="planned", is_private=True)
    ProjectFactory(name="Old intranet", code="INT", client=initech, status="archived")
    client = client_as(in_tenant, "manager")

    def names(query: str) -> list[str]:
        return [r["name"] for r in _rows(client.get(f"/api/v1/projects/?{query}"))]

    assert names("status=active") == ["Website"]
    assert names("status=active&status=planned") == ["Mobile", "Website"]
    assert names(f"client={initech.pk}") == ["Old intranet", "Website"]
    assert names("search=web") == ["Website"]
    assert names("search=app") == ["Mobile"]
    assert names("is_private=true") == ["Mobile"]
    assert names("archived=true") == ["Old intranet"]
    assert names("archived=false") == ["Mobile", "Website"]
    assert names("deleted=false") == ["Mobile", "Old intranet", "Website"]
    expect(client.get("/api/v1/projects/?status=finished"), 400)
    expect(client.get("/api/v1/projects/?client=nope"), 400)


def test_ordering_and_pagination(in_tenant):
    for name, start in [("B", "2026-03-01"), ("A", "2026-01-01"), ("C", None), ("D", "2026-02-01")]:
        ProjectFactory(name=name, start_date=start)
    client = client_as(in_tenant, "member")

    def names(query: str) -> list[str]:
        return [r["name"] for r in _rows(client.get(f"/api/v1/projects/?{query}"))]

    assert names("") == ["A", "B", "C", "D"]
    assert names("ordering=-name") == ["D", "C", "B", "A"]
    assert names("ordering=start_date") == ["A", "D", "B", "C"]
    page = client.get("/api/v1/projects/?page_size=3&ordering=name").json()
    assert page["count"] == 4
    assert [r["name"] for r in page["results"]] == ["A", "B", "C"]
    assert page["next"] is not None and page["previous"] is None
    assert [r["name"] for r in client.get(page["next"]).json()["results"]] == ["D"]


# --- isolation ------------------------------------------------------------------------


def test_an_acme_project_is_unknown_on_globex(in_tenant, other_tenant):
    project = ProjectFactory(name="Acme secret")
    before = _snapshot()
    globex = client_as(other_tenant, "owner")

    expect(globex.get(f"/api/v1/projects/{project.pk}/"), 404, "not_found")
    expect(globex.patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json"), 404)
    expect(globex.delete(f"/api/v1/projects/{project.pk}/"), 404)
    expect(globex.post(f"/api/v1/projects/{project.pk}/restore/"), 404)
    expect(globex.get(f"/api/v1/projects/{project.pk}/members/"), 404)
    assert _rows(globex.get("/api/v1/projects/")) == []
    assert _snapshot() == before


def test_a_globex_client_id_in_an_acme_payload_is_400(in_tenant, other_tenant):
    with tenant_context(other_tenant):
        globex_client = ClientFactory()
    project = ProjectFactory()
    before = _snapshot()
    client = client_as(in_tenant, "owner")

    created = client.post(
        "/api/v1/projects/", {"name": "X", "client": str(globex_client.pk)}, format="json"
    )
    updated = client.patch(
        f"/api/v1/projects/{project.pk}/", {"client": str(globex_client.pk)}, format="json"
    )

    for response in (created, updated):
        expect(response, 400, "invalid")
        assert "client" in response.json()["fields"]
    assert _snapshot() == before


def test_an_acme_member_is_not_a_member_on_globex(in_tenant, other_tenant):
    client = client_as(in_tenant, "owner")
    globex = client_as(other_tenant, None)
    globex.force_authenticate(client.user)
    expect(globex.get("/api/v1/projects/"), 403, "not_a_member")


# --- query counts ---------------------------------------------------------------------


def _count_queries(client: Any, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(ctx)


@pytest.mark.parametrize("role", ["member", "manager"])
def test_list_query_count_does_not_grow_with_the_page(in_tenant, role):
    client = client_as(in_tenant, role)
    client.get("/api/v1/projects/")  # warm the host cache
    for i in range(3):
        project = ProjectFactory(is_private=bool(i % 2))
        ProjectMemberFactory(project=project, user_id=client.user.pk)

    few = _count_queries(client, "/api/v1/projects/")
    for i in range(27):
        project = ProjectFactory(is_private=bool(i % 2))
        ProjectMemberFactory(project=project, user_id=client.user.pk)
    many = _count_queries(client, "/api/v1/projects/")

    assert len(_rows(client.get("/api/v1/projects/"))) == 30
    assert many == few, (few, many)
