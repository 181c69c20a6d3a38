"""Members and organization settings on the organization host: RBAC matrix,
last-owner rules, ownership transfer, leaving, and tenant isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.common.testing import app_queries, expect
from apps.iam.tests.factories import UserFactory
from apps.organizations.models import Membership, Organization
from apps.organizations.tests.factories import MembershipFactory, client_as
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "member", "manager", "admin", "owner"]


# --- organization settings ------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]
    + [(r, 200, None) for r in ROLES],
)
def test_settings_read_matrix(tenant, role, status, code):
    response = client_as(tenant, role).get("/api/v1/organization/")
    expect(response, status, code)
    if status == 200:
        assert response.json()["slug"] == "acme"
        assert response.json()["rounding"] == {"mode": "none", "minutes": 15}


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, None), ("outsider", 403, "not_a_member")]
    + [(r, 403, "role_required") for r in ("viewer", "member", "manager")]
    + [("admin", 200, None), ("owner", 200, None)],
)
def test_settings_update_matrix(tenant, role, status, code):
    before = Organization.objects.get(pk=tenant.pk).name

    response = client_as(tenant, role).patch(
        "/api/v1/organization/", {"name": "Acme Renamed"}, format="json"
    )

    expect(response, status, code)
    expected = "Acme Renamed" if status == 200 else before
    assert Organization.objects.get(pk=tenant.pk).name == expected


def test_settings_update_applies_and_is_visible_at_once(tenant):
    client = client_as(tenant, "admin")
    client.get("/api/v1/organization/")  # warm the host cache
    response = client.patch(
        "/api/v1/organization/",
        {
            "timezone": "America/New_York",
            "week_start": 6,
            "currency": "eur",
            "default_hourly_rate": "87.50",
            "idle_threshold_minutes": 15,
            "rounding_mode": "up",
            "rounding_minutes": 6,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    org = Organization.objects.get(pk=tenant.pk)
    assert (org.timezone, org.week_start, org.currency) == ("America/New_York", 6, "EUR")
    assert org.default_hourly_rate == Decimal("87.50")
    assert (org.rounding_mode, org.rounding_minutes, org.idle_threshold_minutes) == ("up", 6, 15)
    assert client.get("/api/v1/organization/").json()["rounding"] == {"mode": "up", "minutes": 6}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"week_start": 7}, "week_start"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "E1R"}, "currency"),
        ({"default_hourly_rate": "-1"}, "default_hourly_rate"),
        ({"default_hourly_rate": "abc"}, "default_hourly_rate"),
        ({"rounding_minutes": 7}, "rounding_minutes"),
        ({"rounding_mode": "sideways"}, "rounding_mode"),
        ({"idle_threshold_minutes": 0}, "idle_threshold_minutes"),
        ({"forgotten_timer_hours": 0}, "forgotten_timer_hours"),
        ({"forgotten_timer_hours": 73}, "forgotten_timer_hours"),
        ({"timesheet_period": "fortnightly"}, "timesheet_period"),
        ({"allow_overlapping_entries": "maybe"}, "allow_overlapping_entries"),
        ({"name": ""}, "name"),
    ],
)
def test_settings_bad_input_is_400_and_changes_nothing(tenant, payload, field):
    before = Organization.objects.filter(pk=tenant.pk).values().get()
    response = client_as(tenant, "owner").patch("/api/v1/organization/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    after = Organization.objects.filter(pk=tenant.pk).values().get()
    assert after == before


@pytest.mark.parametrize(
    "payload",
    [
        {"hourly_rate": "-1"},
        {"hourly_rate": "abc"},
        {"weekly_expected_hours": "169"},
        {"weekly_expected_hours": "-2"},
        {"hourly_rate": "30.00", "weekly_expected_hours": "200"},
    ],
)
def test_member_terms_bad_input_is_400_and_changes_nothing(tenant, payload):
    target = MembershipFactory(organization=tenant, role="member")
    before = Membership.objects.filter(pk=target.pk).values().get()
    response = client_as(tenant, "admin").patch(
        f"/api/v1/members/{target.pk}/", payload, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) <= set(payload)
    assert Membership.objects.filter(pk=target.pk).values().get() == before


def test_only_owners_may_require_two_factor(tenant):
    denied = client_as(tenant, "admin").patch(
        "/api/v1/organization/", {"require_two_factor": True, "name": "X"}, format="json"
    )
    assert denied.status_code == 403
    assert denied.json()["code"] == "role_required"
    assert denied.json()["permission"] == "organization.owner_settings"
    org = Organization.objects.get(pk=tenant.pk)
    assert (org.require_two_factor, org.name) == (False, tenant.name)


def test_read_only_fields_are_ignored(tenant):
    response = client_as(tenant, "owner").patch(
        "/api/v1/organization/", {"slug": "hijack", "status": "active"}, format="json"
    )
    assert response.status_code == 200
    org = Organization.objects.get(pk=tenant.pk)
    assert (org.slug, org.status) == ("acme", "active")


# --- members --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), ("outsider", 403)] + [(r, 200) for r in ROLES]
)
def test_member_list_matrix(tenant, role, status):
    MembershipFactory(organization=tenant, role="member")
    response = client_as(tenant, role).get("/api/v1/members/")
    assert response.status_code == status
    if status == 200:
        rows = response.json()["results"]
        assert all(set(r) == {"id", "user", "role", "status", "joined_at"} for r in rows)
        assert len(rows) == Membership.objects.filter(organization=tenant).count()


def test_member_list_has_no_n_plus_one(tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as(tenant, "viewer")
    client.get("/api/v1/members/")  # warm the host cache

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/members/").status_code == 200
        return len(app_queries(ctx))

    few = count()
    for _ in range(8):
        MembershipFactory(organization=tenant)
    assert count() == few


@pytest.mark.parametrize(
    ("actor", "status", "code"),
    [
        ("viewer", 403, "role_required"),
        ("member", 403, "role_required"),
        ("manager", 403, "role_required"),
        ("admin", 200, None),
        ("owner", 200, None),
    ],
)
def test_change_role_matrix(tenant, actor, status, code):
    target = MembershipFactory(organization=tenant, role="member")
    response = client_as(tenant, actor).patch(
        f"/api/v1/members/{target.pk}/", {"role": "manager"}, format="json"
    )
    expect(response, status, code)
    target.refresh_from_db()
    assert target.role == ("manager" if status == 200 else "member")


def test_admin_cannot_touch_owners_or_grant_ownership(tenant):
    owner = MembershipFactory(organization=tenant, role="owner")
    member = MembershipFactory(organization=tenant, role="member")
    admin = client_as(tenant, "admin")

    demote = admin.patch(f"/api/v1/members/{owner.pk}/", {"role": "member"}, format="json")
    promote = admin.patch(f"/api/v1/members/{member.pk}/", {"role": "owner"}, format="json")
    remove = admin.delete(f"/api/v1/members/{owner.pk}/")

    for response in (demote, promote, remove):
        assert expect(response, 403, "role_required")["permission"] == "owners.manage"
    owner.refresh_from_db()
    member.refresh_from_db()
    assert (owner.role, member.role) == ("owner", "member")


def test_last_owner_cannot_be_demoted_or_leave(tenant):
    client = client_as(tenant, "owner")
    me = client.membership

    demote = client.patch(f"/api/v1/members/{me.pk}/", {"role": "admin"}, format="json")
    leave = client.delete(f"/api/v1/members/{me.pk}/")

    expect(demote, 409, "last_owner")
    expect(leave, 409, "last_owner")
    me.refresh_from_db()
    assert me.role == "owner"


def test_an_owner_can_leave_when_another_owner_remains(tenant):
    MembershipFactory(organization=tenant, role="owner")
    client = client_as(tenant, "owner")
    assert client.delete(f"/api/v1/members/{client.membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=client.membership.pk).exists()


def test_any_member_can_leave_but_not_remove_others(tenant):
    other = MembershipFactory(organization=tenant, role="member")
    client = client_as(tenant, "viewer")

    expect(client.delete(f"/api/v1/members/{other.pk}/"), 403, "role_required")
    assert client.delete(f"/api/v1/members/{client.membership.pk}/").status_code == 204
    assert Membership.objects.filter(pk=other.pk).exists()


def test_admin_removes_a_member(tenant):
    target = MembershipFactory(organization=tenant, role="manager")
    assert client_as(tenant, "admin").delete(f"/api/v1/members/{target.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_ownership_transfer(tenant):
    client = client_as(tenant, "owner")
    target = MembershipFactory(organization=tenant, role="admin")

    response = client.post(f"/api/v1/members/{target.pk}/transfer-ownership/")

    assert response.status_code == 200
    assert response.json()["role"] == "owner"
    target.refresh_from_db()
    client.membership.refresh_from_db()
    assert (target.role, client.membership.role) == ("owner", "admin")


@pytest.mark.parametrize("role", ["admin", "manager", "member"])
def test_only_owners_transfer_ownership(tenant, role):
    target = MembershipFactory(organization=tenant, role="member")
    response = client_as(tenant, role).post(f"/api/v1/members/{target.pk}/transfer-ownership/")
    assert expect(response, 403, "role_required")["permission"] == "owners.manage"
    target.refresh_from_db()
    assert target.role == "member"


def test_invalid_role_is_400(tenant):
    target = MembershipFactory(organization=tenant, role="member")
    response = client_as(tenant, "owner").patch(
        f"/api/v1/members/{target.pk}/", {"role": "emperor"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["fields"]


# --- isolation ------------------------------------------------------------------


def test_membership_in_one_org_gives_nothing_on_another_host(tenant, other_tenant):
    user = UserFactory()
    MembershipFactory(user=user, organization=tenant, role="owner")
    client = TenantAPIClient(other_tenant)
    client.force_authenticate(user)

    for path in ("/api/v1/organization/", "/api/v1/members/"):
        expect(client.get(path), 403, "not_a_member")
    expect(client.patch("/api/v1/organization/", {"name": "x"}, format="json"), 403)
    assert Organization.objects.get(pk=other_tenant.pk).name == other_tenant.name


def test_another_orgs_membership_id_is_404(tenant, other_tenant):
    foreign = MembershipFactory(organization=other_tenant, role="member")
    client = client_as(tenant, "owner")
    expect(client.get(f"/api/v1/members/{foreign.pk}/"), 404, "not_found")
    expect(client.patch(f"/api/v1/members/{foreign.pk}/", {"role": "admin"}, format="json"), 404)
    expect(client.delete(f"/api/v1/members/{foreign.pk}/"), 404)
    foreign.refresh_from_db()
    assert foreign.role == "member"


def test_deactivated_membership_is_not_a_member(tenant):
    client = client_as(tenant, "admin")
    Membership.objects.filter(pk=client.membership.pk).update(status="deactivated")
    expect(client.get("/api/v1/organization/"), 403, "not_a_member")
