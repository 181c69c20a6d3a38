"""Tenant isolation matrix: nothing crosses from one organization's schema to another.

Each feature adds rows here. Today: ORM reads/writes, HTTP routing, the host
cache, raw SQL on a shared connection and Celery tasks (tests/test_celery.py).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from apps.projects.models import Client, Project
from apps.projects.tests.factories import ClientFactory, ProjectFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def test_rows_written_in_one_tenant_are_invisible_in_another(tenant, other_tenant):
    with tenant_context(tenant):
        project = ProjectFactory(name="Secret launch")
        client_id = project.client_id

    with tenant_context(other_tenant):
        assert Project.objects.count() == 0
        assert Client.objects.count() == 0
        assert not Project.objects.filter(pk=project.pk).exists()
        assert not Client.objects.filter(pk=client_id).exists()

    with tenant_context(tenant):
        assert list(Project.objects.values_list("name", flat=True)) == ["Secret launch"]


def test_same_natural_keys_coexist_in_two_tenants(tenant, other_tenant):
    # Unique constraints are per schema: two organizations may both have "Internal".
    with tenant_context(tenant):
        ClientFactory(name="Internal")
    with tenant_context(other_tenant):
        ClientFactory(name="Internal")
        assert Client.objects.filter(name="Internal").count() == 1


def test_tenant_tables_do_not_exist_in_public():
    with schema_context("public"), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name LIKE 'projects_%%'"
        )
        assert cursor.fetchone()[0] == 0


def test_search_path_never_includes_another_tenant(tenant, other_tenant):
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        path = cursor.fetchone()[0]
    assert tenant.schema_name in path
    assert other_tenant.schema_name not in path


def test_each_host_serves_its_own_organization(tenant_client, tenant, other_tenant):
    from tenants.testing import TenantAPIClient

    other_client = TenantAPIClient(other_tenant)
    # Interleave hosts on the same thread/connection.
    for _ in range(3):
        assert tenant_client.get("/api/v1/meta/").json()["organization"]["slug"] == "acme"
        assert other_client.get("/api/v1/meta/").json()["organization"]["slug"] == "globex"


# --- HTTP matrix: every organization-host collection, as an admin of the OTHER org ----

ORG_COLLECTIONS = [
    "/api/v1/clients/",
    "/api/v1/projects/",
    "/api/v1/tasks/",
    "/api/v1/labels/",
    "/api/v1/members/",
    "/api/v1/invitations/",
]


@pytest.mark.parametrize("path", ORG_COLLECTIONS)
def test_an_admin_of_one_org_is_not_a_member_of_another(tenant, other_tenant, path):
    from apps.organizations.tests.factories import client_as

    intruder = client_as(tenant, "admin")  # admin of acme
    on_globex = TenantAPIClient(other_tenant)
    on_globex.force_authenticate(intruder.user)

    response = on_globex.get(path)

    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"


def test_object_ids_of_another_org_are_unknown(tenant, other_tenant):
    """Detail URLs with acme's ids answer 404 on globex, even for a globex owner."""
    from apps.organizations.tests.factories import client_as
    from apps.tasks.models import Label, Task

    with tenant_context(tenant):
        project = ProjectFactory()
        task = Task.objects.create(project=project, title="Acme secret")
        label = Label.objects.create(name="acme-only")
    globex_owner = client_as(other_tenant, "owner")

    for path in (
        f"/api/v1/projects/{project.pk}/",
        f"/api/v1/clients/{project.client_id}/",
        f"/api/v1/tasks/{task.pk}/",
        f"/api/v1/labels/{label.pk}/",
        f"/api/v1/projects/{project.pk}/members/",
        f"/api/v1/tasks/{task.pk}/comments/",
    ):
        response = globex_owner.get(path)
        assert response.status_code == 404, path
    deleted = globex_owner.delete(f"/api/v1/tasks/{task.pk}/")
    assert deleted.status_code == 404
    with tenant_context(tenant):
        assert Task.objects.filter(pk=task.pk).exists()
