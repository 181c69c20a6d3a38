"""Organizations, memberships and ``organization_create``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_exists

from apps.iam.models import User
from apps.iam.tests.factories import UserFactory
from apps.organizations.constants import OrganizationStatus
from apps.organizations.models import Domain, Membership, Organization
from apps.organizations.services import organization_create
from apps.organizations.tests.factories import MembershipFactory
from tenants.provisioning import TenantError

pytestmark = pytest.mark.django_db


def _schemas() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        return {row[0] for row in cursor.fetchall()}


def _counts() -> tuple[int, int, int, int]:
    return (
        Organization.objects.count(),
        Domain.objects.count(),
        Membership.objects.count(),
        User.objects.count(),
    )


# --- Organization ---------------------------------------------------------------


def test_customers_excludes_template_and_pooled_rows():
    Organization.objects.create(schema_name="t_pooled_one", status="pooled")
    Organization.objects.create(schema_name="t_suspended", slug="sleepy", status="suspended")
    Organization.objects.create(schema_name="t_provisioning", slug="halfway", status="provisioning")

    customers = set(Organization.objects.customers().values_list("slug", flat=True))
    everything = set(Organization.objects.values_list("status", flat=True))

    assert customers == {"acme", "globex", "sleepy", "halfway"}
    assert {"template", "pooled"} <= everything  # they exist, customers() hides them


@pytest.mark.parametrize(
    ("status", "serving", "read_only"),
    [
        ("template", False, False),
        ("pooled", False, False),
        ("provisioning", False, False),
        ("trialing", True, False),
        ("active", True, False),
        ("past_due", True, False),
        ("suspended", True, True),
        ("cancelled", True, True),
    ],
)
def test_serving_and_read_only_per_status(status, serving, read_only):
    org = Organization(schema_name="t_x", slug="x-co", status=status)

    assert (org.is_serving, org.is_read_only) == (serving, read_only)


def test_every_status_is_covered_by_the_table_above():
    assert set(OrganizationStatus.values) == {
        "template",
        "pooled",
        "provisioning",
        "trialing",
        "active",
        "past_due",
        "suspended",
        "cancelled",
    }


@pytest.mark.parametrize(
    ("name", "slug", "expected"),
    [
        ("Acme Inc.", "acme", "Acme Inc."),
        ("", "acme", "acme"),
        ("", None, "t_abc"),
    ],
)
def test_str_falls_back_from_name_to_slug_to_schema(name, slug, expected):
    assert str(Organization(name=name, slug=slug, schema_name="t_abc")) == expected


def test_full_clean_refuses_an_unknown_timezone():
    org = Organization(
        schema_name="t_tzco", slug="tzco", status="trialing", timezone="Mars/Olympus"
    )

    with pytest.raises(ValidationError) as err:
        org.full_clean()

    assert set(err.value.error_dict) == {"timezone"}
    assert err.value.error_dict["timezone"][0].code == "invalid_timezone"
    assert err.value.message_dict["timezone"] == ["Unknown time zone: 'Mars/Olympus'."]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_full_clean_accepts_real_timezones(tz):
    Organization(schema_name="t_tzok", slug="tzok", status="trialing", timezone=tz).full_clean()


@pytest.mark.parametrize("week_start", [-1, 7])
def test_full_clean_refuses_week_start_out_of_range(week_start):
    org = Organization(schema_name="t_wk", slug="wk", status="trialing", week_start=week_start)

    with pytest.raises(ValidationError) as err:
        org.full_clean()

    assert "week_start" in err.value.error_dict


@pytest.mark.parametrize("week_start", [7, 100])
def test_database_refuses_week_start_above_six(tenant, week_start):
    with (
        pytest.raises(IntegrityError, match="organizations_week_start_range"),
        transaction.atomic(),
    ):
        Organization.objects.filter(pk=tenant.pk).update(week_start=week_start)

    tenant.refresh_from_db()
    assert tenant.week_start == 0


def test_database_accepts_week_start_six(tenant):
    Organization.objects.filter(pk=tenant.pk).update(week_start=6)

    tenant.refresh_from_db()
    assert tenant.week_start == 6


def test_database_refuses_a_negative_week_start(tenant):
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.filter(pk=tenant.pk).update(week_start=-1)

    tenant.refresh_from_db()
    assert tenant.week_start == 0


@pytest.mark.parametrize("status", ["provisioning", "trialing", "active", "suspended"])
def test_database_refuses_a_customer_without_slug(status):
    before = Organization.objects.count()

    with (
        pytest.raises(IntegrityError, match="organizations_customer_has_slug"),
        transaction.atomic(),
    ):
        Organization.objects.create(schema_name="t_noslug", status=status, slug=None)

    assert Organization.objects.count() == before


@pytest.mark.parametrize("status", ["template", "pooled"])
def test_internal_rows_may_have_no_slug(status):
    org = Organization.objects.create(schema_name=f"t_noslug_{status}", status=status)

    assert Organization.objects.get(pk=org.pk).slug is None


def test_slug_is_unique():
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(schema_name="t_second_acme", slug="acme", status="active")

    assert Organization.objects.filter(slug="acme").count() == 1


# --- Membership -----------------------------------------------------------------


def test_membership_is_unique_per_user_and_organization(tenant, other_tenant):
    user = UserFactory()
    MembershipFactory(user=user, organization=tenant)
    MembershipFactory(user=user, organization=other_tenant)  # another org is fine

    with (
        pytest.raises(IntegrityError, match="organizations_membership_unique"),
        transaction.atomic(),
    ):
        MembershipFactory(user=user, organization=tenant, role="admin")

    assert Membership.objects.filter(user=user).count() == 2
    assert Membership.objects.get(user=user, organization=tenant).role == "member"


def test_membership_str(tenant):
    membership = MembershipFactory(
        user=UserFactory(email="mia@x.test"), organization=tenant, role="manager"
    )

    assert str(membership) == "mia@x.test @ Acme (manager)"


# --- organization_create ----------------------------------------------------------


def test_organization_create_creates_the_org_and_its_owner():
    result = organization_create(
        slug="NewCo",
        name="New Co",
        owner_email="  Founder@NewCo.TEST ",
        owner_password="pw-123456",
        timezone="Europe/Paris",
    )

    org = Organization.objects.get(slug="newco")
    assert result.tenant.pk == org.pk
    assert result.domain == "newco.localhost"
    assert (org.name, org.status, org.timezone) == ("New Co", "trialing", "Europe/Paris")
    assert schema_exists(org.schema_name)
    owner = User.objects.get(email="founder@newco.test")
    assert owner.check_password("pw-123456")
    assert list(
        Membership.objects.filter(organization=org).values_list("user", "role", "status")
    ) == [(owner.pk, "owner", "active")]


def test_organization_create_reuses_an_existing_user_by_email_ignoring_case():
    existing = User.objects.create_user("boss@example.com", password="original-pw")
    users_before = User.objects.count()

    organization_create(
        slug="bossco", name="Boss Co", owner_email="  BOSS@Example.COM ", owner_password="other-pw"
    )

    assert User.objects.count() == users_before
    membership = Membership.objects.get(organization__slug="bossco")
    assert membership.user_id == existing.pk
    assert membership.role == "owner"
    # An existing account's password is never changed by someone creating an org.
    existing.refresh_from_db()
    assert existing.check_password("original-pw")
    assert not existing.check_password("other-pw")


def test_organization_create_finds_an_owner_stored_with_mixed_case():
    legacy = User.objects.create(email="Legacy@Example.com")  # bypasses normalisation

    organization_create(slug="legacyco", name="Legacy Co", owner_email="legacy@example.com")

    assert Membership.objects.get(organization__slug="legacyco").user_id == legacy.pk


def test_organization_create_with_a_taken_slug_creates_nothing():
    before = _counts()
    schemas_before = _schemas()

    with pytest.raises(TenantError) as err:
        organization_create(slug="acme", name="Acme 2", owner_email="newbie@x.test")

    assert err.value.code == "slug_taken"
    assert _counts() == before
    assert _schemas() == schemas_before
    assert not User.objects.filter(email="newbie@x.test").exists()


@pytest.mark.parametrize("email", ["not-an-email", "", "a@b"])
def test_organization_create_with_an_invalid_owner_email_creates_nothing(email):
    before = _counts()
    schemas_before = _schemas()

    with pytest.raises(TenantError) as err:
        organization_create(slug="bademail", name="Bad", owner_email=email)

    assert err.value.code == "invalid_email"
    assert _counts() == before
    assert _schemas() == schemas_before


def test_organization_create_failing_after_the_owner_is_created_rolls_everything_back(
    monkeypatch,
):
    before = _counts()
    schemas_before = _schemas()

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("membership insert failed")

    monkeypatch.setattr(Membership.objects, "create", fail)

    with pytest.raises(RuntimeError, match="membership insert failed"):
        organization_create(slug="halfdone", name="Half", owner_email="half@x.test")

    assert _counts() == before
    assert _schemas() == schemas_before
    assert not User.objects.filter(email="half@x.test").exists()
    assert not Organization.objects.filter(slug="halfdone").exists()
    assert not Domain.objects.filter(domain="halfdone.localhost").exists()
