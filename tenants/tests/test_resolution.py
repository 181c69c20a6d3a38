"""Host → tenant resolution over HTTP: routing, caching, invalidation, read-only."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import get_tenant_domain_model

from tenants.provisioning import set_tenant_status
from tenants.resolution import cache_key, resolve_tenant
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def test_org_host_routes_to_its_tenant(tenant_client, tenant):
    response = tenant_client.get("/api/v1/meta/")
    assert response.status_code == 200
    assert response.json() == {
        "host": "organization",
        "organization": {"slug": "acme", "name": tenant.name, "status": "active"},
        "api_version": "v1",
    }


@pytest.mark.parametrize("host", ["localhost", "www.localhost", "LOCALHOST:8000"])
def test_base_and_www_route_to_the_public_urlconf(db, host):
    response = TenantAPIClient(None, HTTP_HOST=host).get("/api/v1/meta/")
    assert response.status_code == 200
    assert response.json()["host"] == "public"


def test_admin_exists_on_public_host_only(public_client, tenant_client):
    assert public_client.get("/admin/login/").status_code == 200
    assert tenant_client.get("/admin/login/").status_code == 404


@pytest.mark.parametrize("host", ["nope.localhost", "acme.localhost.evil.localhost"])
def test_unknown_subdomain_is_404_json(db, host):
    response = TenantAPIClient(None, HTTP_HOST=host).get("/api/v1/meta/")
    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_warm_request_makes_zero_queries(tenant_client):
    tenant_client.get("/api/v1/meta/")  # cold: fills the cache
    with CaptureQueriesContext(connection) as queries:
        response = tenant_client.get("/api/v1/meta/")
    assert response.status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_cold_request_queries_once_and_fills_the_cache(tenant_client, tenant):
    assert cache.get(cache_key("acme.localhost")) is None
    with CaptureQueriesContext(connection) as queries:
        tenant_client.get("/api/v1/meta/")
    lookups = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
    assert len(lookups) == 1 and "organizations_domain" in lookups[0]
    assert cache.get(cache_key("acme.localhost")).pk == tenant.pk


def test_unknown_host_is_negatively_cached_until_a_domain_appears(tenant):
    client = TenantAPIClient(None, HTTP_HOST="later.localhost")
    assert client.get("/api/v1/meta/").status_code == 404
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/meta/").status_code == 404
    assert len(queries) == 0

    get_tenant_domain_model().objects.create(
        domain="later.localhost", tenant=tenant, is_primary=False
    )

    assert client.get("/api/v1/meta/").json()["organization"]["slug"] == "acme"


def test_status_change_invalidates_the_cache(tenant_client, tenant):
    tenant_client.get("/api/v1/meta/")
    assert cache.get(cache_key("acme.localhost")) is not None

    set_tenant_status(tenant, "suspended")

    assert cache.get(cache_key("acme.localhost")) is None
    assert tenant_client.get("/api/v1/meta/").json()["organization"]["status"] == "suspended"


def test_domain_rename_invalidates_old_and_new_hosts(tenant_client, tenant):
    tenant_client.get("/api/v1/meta/")
    domain = tenant.domains.get(domain="acme.localhost")

    domain.domain = "acme-renamed.localhost"
    domain.save()

    assert tenant_client.get("/api/v1/meta/").status_code == 404
    renamed = TenantAPIClient(None, HTTP_HOST="acme-renamed.localhost")
    assert renamed.get("/api/v1/meta/").json()["organization"]["slug"] == "acme"


def test_domain_delete_invalidates(tenant_client, tenant):
    tenant_client.get("/api/v1/meta/")
    tenant.domains.filter(domain="acme.localhost").delete()
    assert tenant_client.get("/api/v1/meta/").status_code == 404


@pytest.mark.parametrize("status", ["suspended", "cancelled"])
def test_inactive_org_reads_pass_writes_get_402(tenant_client, tenant, status):
    set_tenant_status(tenant, status)

    assert tenant_client.get("/api/v1/meta/").status_code == 200
    response = tenant_client.post("/api/v1/meta/", {})
    assert response.status_code == 402
    assert response.json()["code"] == "organization_inactive"


def test_inactive_org_may_still_reach_billing_paths(tenant_client, tenant):
    set_tenant_status(tenant, "suspended")
    # Reaching the view (401 for an anonymous caller) rather than the 402
    # wall proves the allow-list works.
    response = tenant_client.post("/api/v1/billing/checkout/", {})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_active_org_writes_reach_the_view(tenant_client):
    response = tenant_client.post("/api/v1/meta/", {})
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("status", ["pooled", "template", "provisioning"])
def test_non_serving_tenants_are_not_reachable(tenant_client, tenant, status):
    set_tenant_status(tenant, status)
    response = tenant_client.get("/api/v1/meta/")
    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_resolve_tenant_is_case_insensitive(tenant):
    assert resolve_tenant("ACME.localhost").pk == tenant.pk


def test_connection_is_back_on_public_after_a_tenant_request(tenant_client):
    tenant_client.get("/api/v1/meta/")
    assert connection.schema_name == "public"
