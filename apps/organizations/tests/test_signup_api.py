"""``POST /api/v1/signup/`` and ``GET /api/v1/organizations/`` (public host)."""

from __future__ import annotations

import pytest
from django_tenants.utils import get_tenant_model, schema_exists

from apps.iam.models import AuthToken, User
from apps.iam.tests.factories import UserFactory
from apps.iam.tokens import hash_key
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

GOOD = {
    "organization_name": "Initech",
    "slug": "initech",
    "email": "Peter@Initech.test",
    "password": "tps reports 4ever",
    "first_name": "Peter",
}


def _state() -> tuple[int, int, int, int]:
    return (
        get_tenant_model().objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        AuthToken.objects.count(),
    )


def test_signup_creates_everything_and_the_token_works(public_client):
    response = public_client.post("/api/v1/signup/", GOOD, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    org = get_tenant_model().objects.get(slug="initech")
    assert body["organization"] == {
        "id": str(org.id),
        "name": "Initech",
        "slug": "initech",
        "url": "http://initech.localhost:8000/",
        "status": "trialing",
    }
    user = User.objects.get(email="peter@initech.test")
    assert body["user"] == {"id": str(user.id), "email": "peter@initech.test"}
    assert user.first_name == "Peter" and user.check_password("tps reports 4ever")
    assert Membership.objects.get(organization=org).role == "owner"
    assert schema_exists(org.schema_name)
    assert AuthToken.objects.filter(user=user, key_hash=hash_key(body["token"])).exists()

    org_client = TenantAPIClient(org)
    org_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    settings_response = org_client.get("/api/v1/organization/")
    assert settings_response.status_code == 200
    assert settings_response.json()["slug"] == "initech"


def test_logged_in_user_signs_up_another_organization_without_credentials(public_client, tenant):
    user = UserFactory(email="boss@example.com")
    public_client.force_authenticate(user)

    response = public_client.post(
        "/api/v1/signup/", {"organization_name": "Second", "slug": "second-co"}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["user"]["email"] == "boss@example.com"
    assert User.objects.filter(email="boss@example.com").count() == 1


@pytest.mark.parametrize(
    ("override", "field", "code"),
    [
        ({"slug": "www"}, "slug", "slug_reserved"),
        ({"slug": "acme"}, "slug", "slug_taken"),
        ({"slug": "Bad_Slug"}, "slug", "slug_invalid"),
        ({"slug": "ab"}, "slug", "slug_length"),
        ({"password": "123"}, "password", "invalid"),
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"email": ""}, "email", "invalid"),
        ({"organization_name": ""}, "organization_name", "invalid"),
    ],
)
def test_bad_input_is_400_with_the_field_and_writes_nothing(public_client, override, field, code):
    before = _state()

    response = public_client.post("/api/v1/signup/", {**GOOD, **override}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert field in body["fields"]
    assert _state() == before


def test_missing_credentials_for_anonymous_is_400(public_client):
    response = public_client.post(
        "/api/v1/signup/", {"organization_name": "X", "slug": "xcorp"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"email", "password"}


def test_existing_email_is_refused_without_creating_anything(public_client):
    UserFactory(email="peter@initech.test")
    before = _state()
    response = public_client.post("/api/v1/signup/", GOOD, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "email_taken"
    assert _state() == before


def test_a_failure_after_the_user_is_created_rolls_the_user_back(public_client, monkeypatch):
    from apps.organizations.services import signup as services

    def boom(**kwargs):
        raise RuntimeError("schema build failed")

    monkeypatch.setattr(services, "provision_tenant", boom)
    before = _state()
    public_client.raise_request_exception = False

    response = public_client.post("/api/v1/signup/", GOOD, format="json")

    assert response.status_code == 500
    assert _state() == before


def test_signup_is_not_served_on_org_hosts(tenant_client):
    assert tenant_client.post("/api/v1/signup/", GOOD, format="json").status_code == 404


def test_my_organizations_lists_memberships_with_urls_and_roles(
    public_client, tenant, other_tenant
):
    user = UserFactory()
    MembershipFactory(user=user, organization=tenant, role="manager")
    MembershipFactory(user=user, organization=other_tenant, role="viewer")
    public_client.force_authenticate(user)

    response = public_client.get("/api/v1/organizations/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["slug"], r["role"], r["url"]) for r in rows] == [
        ("acme", "manager", "http://acme.localhost:8000/"),
        ("globex", "viewer", "http://globex.localhost:8000/"),
    ]
    assert set(rows[0]) == {"id", "name", "slug", "url", "role", "status"}


def test_my_organizations_needs_authentication(public_client):
    assert public_client.get("/api/v1/organizations/").status_code == 401
