"""Project members: only active organization members may be added, managers
manage them, rates stay hidden from the roles without ``rates.view``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import MANAGER_WRITE_MATRIX, expect
from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.models import ProjectMember

from .factories import ProjectFactory, ProjectMemberFactory, client_as

pytestmark = pytest.mark.django_db


def _snapshot() -> list[dict[str, Any]]:
    return list(ProjectMember.objects.order_by("id").values())


def _org_member(tenant: Any, role: str = "member", **user: Any) -> Any:
    return MembershipFactory(user=UserFactory(**user), organization=tenant, role=role).user


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_write_matrix(in_tenant, role, status, code):
    project = ProjectFactory()
    existing = ProjectMemberFactory(project=project, user_id=_org_member(in_tenant).pk)
    newcomer = _org_member(in_tenant)
    before = _snapshot()
    client = client_as(in_tenant, role)
    base = f"/api/v1/projects/{project.pk}/members/"

    added = client.post(base, {"user": str(newcomer.pk)}, format="json")
    changed = client.patch(f"{base}{existing.pk}/", {"role": "lead"}, format="json")
    removed = client.delete(f"{base}{existing.pk}/")

    if status:
        for response in (added, changed, removed):
            expect(response, status, code)
        assert _snapshot() == before
    else:
        expect(added, 201)
        expect(changed, 200)
        expect(removed, 204)
        assert list(ProjectMember.objects.values_list("user_id", "role")) == [
            (newcomer.pk, "member")
        ]


def test_add_returns_the_member_with_the_users_name(in_tenant):
    project = ProjectFactory()
    user = _org_member(in_tenant, email="ada@acme.test", first_name="Ada", last_name="Lovelace")

    response = client_as(in_tenant, "manager").post(
        f"/api/v1/projects/{project.pk}/members/",
        {"user": str(user.pk), "role": "lead", "hourly_rate": "80.50"},
        format="json",
    )

    expect(response, 201)
    member = ProjectMember.objects.get()
    assert response.json() == {
        "id": str(member.pk),
        "project": str(project.pk),
        "user": str(user.pk),
        "email": "ada@acme.test",
        "name": "Ada Lovelace",
        "role": "lead",
        "hourly_rate": "80.50",
        "created_at": response.json()["created_at"],
    }
    assert (member.role, member.hourly_rate) == ("lead", Decimal("80.50"))


@pytest.mark.parametrize("who", ["stranger", "other_org", "deactivated", "unknown"])
def test_only_active_organization_members_can_be_added(in_tenant, other_tenant, who):
    project = ProjectFactory()
    if who == "stranger":
        user_id = UserFactory().pk
    elif who == "other_org":
        user_id = MembershipFactory(organization=other_tenant).user_id
    elif who == "deactivated":
        user_id = MembershipFactory(organization=in_tenant, status="deactivated").user_id
    else:
        user_id = "00000000-0000-0000-0000-000000000000"

    response = client_as(in_tenant, "manager").post(
        f"/api/v1/projects/{project.pk}/members/", {"user": str(user_id)}, format="json"
    )

    expect(response, 400, "not_an_organization_member")
    assert "user" in response.json()["fields"]
    assert not ProjectMember.objects.exists()


def test_adding_twice_is_a_conflict(in_tenant):
    project = ProjectFactory()
    user = _org_member(in_tenant)
    ProjectMemberFactory(project=project, user_id=user.pk)
    before = _snapshot()

    response = client_as(in_tenant, "manager").post(
        f"/api/v1/projects/{project.pk}/members/", {"user": str(user.pk)}, format="json"
    )

    expect(response, 409, "member_exists")
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"user": "nope"}, "user"),
        ({}, "user"),
        ({"user": None, "role": "boss"}, "role"),
        ({"user": None, "hourly_rate": "-1"}, "hourly_rate"),
    ],
)
def test_bad_input_is_400(in_tenant, payload, field):
    project = ProjectFactory()
    if payload.get("user", "") is None:
        payload["user"] = str(_org_member(in_tenant).pk)

    response = client_as(in_tenant, "manager").post(
        f"/api/v1/projects/{project.pk}/members/", payload, format="json"
    )

    expect(response, 400)
    assert field in response.json()["fields"]
    assert not ProjectMember.objects.exists()


def test_patch_changes_role_and_rate_and_refuses_negative_rates(in_tenant):
    project = ProjectFactory()
    member = ProjectMemberFactory(project=project, user_id=_org_member(in_tenant).pk)
    client = client_as(in_tenant, "manager")
    url = f"/api/v1/projects/{project.pk}/members/{member.pk}/"

    expect(client.patch(url, {"role": "lead", "hourly_rate": "70"}, format="json"), 200)
    expect(client.patch(url, {"hourly_rate": "-1"}, format="json"), 400)

    member.refresh_from_db()
    assert (member.role, member.hourly_rate) == ("lead", Decimal("70"))


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_member_rates_are_hidden_without_rates_view(in_tenant, role):
    project = ProjectFactory()
    member = ProjectMemberFactory(
        project=project, user_id=_org_member(in_tenant).pk, hourly_rate=Decimal("99")
    )
    client = client_as(in_tenant, role)

    listed = client.get(f"/api/v1/projects/{project.pk}/members/").json()["results"][0]
    detail = client.get(f"/api/v1/projects/{project.pk}/members/{member.pk}/").json()

    for data in (listed, detail):
        assert "hourly_rate" not in data
        assert data["user"] == str(member.user_id)


def test_a_member_of_another_project_is_404(in_tenant):
    project, other = ProjectFactory(), ProjectFactory()
    member = ProjectMemberFactory(project=other, user_id=_org_member(in_tenant).pk)
    client = client_as(in_tenant, "owner")
    url = f"/api/v1/projects/{project.pk}/members/{member.pk}/"

    expect(client.get(url), 404)
    expect(client.patch(url, {"role": "lead"}, format="json"), 404)
    expect(client.delete(url), 404)
    member.refresh_from_db()
    assert member.role == "member"


def test_adding_someone_to_a_private_project_shows_it_to_them(in_tenant):
    project = ProjectFactory(is_private=True)
    colleague = client_as(in_tenant, "member")
    assert colleague.get("/api/v1/projects/").json()["results"] == []

    client_as(in_tenant, "manager").post(
        f"/api/v1/projects/{project.pk}/members/", {"user": str(colleague.user.pk)}, format="json"
    )

    assert [r["id"] for r in colleague.get("/api/v1/projects/").json()["results"]] == [
        str(project.pk)
    ]


def test_list_query_count_does_not_grow_with_the_page(in_tenant):
    project = ProjectFactory()
    client = client_as(in_tenant, "manager")
    url = f"/api/v1/projects/{project.pk}/members/"
    client.get(url)  # warm the host cache

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    for _ in range(3):
        ProjectMemberFactory(project=project, user_id=_org_member(in_tenant).pk)
    few = count()
    for _ in range(27):
        ProjectMemberFactory(project=project, user_id=_org_member(in_tenant).pk)
    assert count() == few
    assert len(client.get(url).json()["results"]) == 30
