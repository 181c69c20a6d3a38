"""Clients on the organization host: RBAC matrix, bad input, soft delete and
restore, filters and isolation."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.common.testing import MANAGER_WRITE_MATRIX, expect
from apps.projects.models import Client

from .factories import ClientFactory, ProjectFactory, client_as

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "member", "manager", "admin", "owner"]


def _snapshot() -> list[dict[str, Any]]:
    return list(Client.all_objects.order_by("id").values())


def _names(client: Any, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/clients/?{query}")
    assert response.status_code == 200, response.content
    return [r["name"] for r in response.json()["results"]]


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]
    + [(r, 200, None) for r in ROLES],
)
def test_read_matrix(in_tenant, role, status, code):
    acme_client = ClientFactory(name="Initech", contact_email="boss@initech.test")
    client = client_as(in_tenant, role)

    listed = client.get("/api/v1/clients/")
    detail = client.get(f"/api/v1/clients/{acme_client.pk}/")

    expect(listed, status, code)
    expect(detail, status, code)
    if status == 200:
        assert [r["name"] for r in listed.json()["results"]] == ["Initech"]
        data = detail.json()
        assert set(data) == {
            "id",
            "name",
            "contact_email",
            "notes",
            "currency",
            "is_archived",
            "created_at",
            "updated_at",
            "deleted_at",
        }
        assert (data["contact_email"], data["is_archived"]) == ("boss@initech.test", False)


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_write_matrix(in_tenant, role, status, code):
    existing = ClientFactory(name="Initech")
    deleted = ClientFactory(name="Umbrella")
    deleted.soft_delete()
    before = _snapshot()
    client = client_as(in_tenant, role)

    created = client.post("/api/v1/clients/", {"name": "Globochem"}, format="json")
    updated = client.patch(f"/api/v1/clients/{existing.pk}/", {"notes": "Pays late"}, format="json")
    removed = client.delete(f"/api/v1/clients/{existing.pk}/")
    restored = client.post(f"/api/v1/clients/{deleted.pk}/restore/")

    if status:
        for response in (created, updated, removed, restored):
            expect(response, status, code)
        assert _snapshot() == before
    else:
        expect(created, 201)
        expect(updated, 200)
        expect(removed, 204)
        expect(restored, 200)
        assert sorted(Client.objects.values_list("name", flat=True)) == ["Globochem", "Umbrella"]
        assert Client.all_objects.get(pk=existing.pk).notes == "Pays late"


def test_create_normalizes_and_returns_the_client(in_tenant):
    response = client_as(in_tenant, "manager").post(
        "/api/v1/clients/",
        {"name": " Initech ", "contact_email": "a@initech.test", "currency": "eur", "notes": "N"},
        format="json",
    )
    expect(response, 201)
    stored = Client.objects.get()
    assert response.json()["id"] == str(stored.pk)
    assert (stored.name, stored.currency, stored.notes) == ("Initech", "EUR", "N")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "X", "currency": "EURO"}, "currency"),
        ({"name": "X", "currency": "E1R"}, "currency"),
        ({"name": "X", "contact_email": "not-an-email"}, "contact_email"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(in_tenant, payload, field):
    ClientFactory(name="Initech")
    before = _snapshot()

    response = client_as(in_tenant, "manager").post("/api/v1/clients/", payload, format="json")

    expect(response, 400)
    assert field in response.json()["fields"]
    assert _snapshot() == before


def test_a_taken_name_is_409_name_taken_and_writes_nothing(in_tenant):
    ClientFactory(name="Initech")
    before = _snapshot()

    response = client_as(in_tenant, "manager").post(
        "/api/v1/clients/", {"name": "initech"}, format="json"
    )  # taken, any case

    expect(response, 409, "name_taken")
    assert "name" in response.json()["fields"]
    assert _snapshot() == before


def test_a_deleted_clients_name_can_be_reused(in_tenant):
    ClientFactory(name="Initech").soft_delete()
    response = client_as(in_tenant, "manager").post(
        "/api/v1/clients/", {"name": "Initech"}, format="json"
    )
    expect(response, 201)


def test_soft_delete_and_restore(in_tenant):
    acme_client = ClientFactory(name="Initech")
    client = client_as(in_tenant, "manager")

    expect(client.delete(f"/api/v1/clients/{acme_client.pk}/"), 204)

    assert _names(client) == []
    assert _names(client, "deleted=true") == ["Initech"]
    expect(client.get(f"/api/v1/clients/{acme_client.pk}/"), 404, "not_found")

    restored = client.post(f"/api/v1/clients/{acme_client.pk}/restore/")

    expect(restored, 200)
    assert restored.json()["deleted_at"] is None
    assert _names(client) == ["Initech"]


def test_a_client_with_live_projects_cannot_be_deleted(in_tenant):
    project = ProjectFactory()
    before = _snapshot()
    client = client_as(in_tenant, "manager")

    expect(client.delete(f"/api/v1/clients/{project.client_id}/"), 409, "client_in_use")
    assert _snapshot() == before

    project.soft_delete()
    expect(client.delete(f"/api/v1/clients/{project.client_id}/"), 204)


def test_restore_refuses_a_name_taken_meanwhile(in_tenant):
    old = ClientFactory(name="Initech")
    old.soft_delete()
    ClientFactory(name="INITECH")
    before = _snapshot()

    response = client_as(in_tenant, "manager").post(f"/api/v1/clients/{old.pk}/restore/")

    expect(response, 409, "name_taken")
    assert _snapshot() == before


def test_filters_and_ordering(in_tenant):
    ClientFactory(name="Initech", is_archived=True)
    ClientFactory(name="Globochem")
    ClientFactory(name="Umbrella")
    client = client_as(in_tenant, "viewer")

    assert _names(client) == ["Globochem", "Initech", "Umbrella"]
    assert _names(client, "search=ELL") == ["Umbrella"]
    assert _names(client, "archived=true") == ["Initech"]
    assert _names(client, "archived=false") == ["Globochem", "Umbrella"]
    assert _names(client, "ordering=-name") == ["Umbrella", "Initech", "Globochem"]


def test_archiving_is_a_flag(in_tenant):
    acme_client = ClientFactory()
    response = client_as(in_tenant, "manager").patch(
        f"/api/v1/clients/{acme_client.pk}/", {"is_archived": True}, format="json"
    )
    expect(response, 200)
    acme_client.refresh_from_db()
    assert acme_client.is_archived is True


def test_an_acme_client_is_unknown_on_globex(in_tenant, other_tenant):
    acme_client = ClientFactory()
    before = _snapshot()
    globex = client_as(other_tenant, "owner")

    expect(globex.get(f"/api/v1/clients/{acme_client.pk}/"), 404)
    expect(globex.patch(f"/api/v1/clients/{acme_client.pk}/", {"name": "x"}, format="json"), 404)
    expect(globex.delete(f"/api/v1/clients/{acme_client.pk}/"), 404)
    with tenant_context(other_tenant):
        assert not Client.all_objects.exists()
    assert _snapshot() == before


def test_list_query_count_does_not_grow_with_the_page(in_tenant):
    client = client_as(in_tenant, "member")
    client.get("/api/v1/clients/")  # warm the host cache

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/clients/").status_code == 200
        return len(ctx)

    ClientFactory.create_batch(3)
    few = count()
    ClientFactory.create_batch(27)
    assert count() == few
