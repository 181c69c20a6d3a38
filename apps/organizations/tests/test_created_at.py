"""An organization's ``created_at`` is when it was signed up, also when its
schema came from the pool of spare schemas built (possibly days) earlier;
the CLI, the admin and the API all show that one value. Existing rows are
fixed by migration ``0006_created_at_is_the_claim_time``."""

from __future__ import annotations

import datetime
import importlib
import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone

from apps.common.testing import otp_force_login
from apps.organizations.models import Domain, Membership, Organization
from apps.organizations.tests.factories import client_as
from tenants.provisioning import fill_pool, provision_tenant

pytestmark = pytest.mark.django_db

DAYS_AGO = datetime.timedelta(days=3)


def spare_from_three_days_ago() -> Organization:
    assert fill_pool(size=1) == 1
    spare = Organization.objects.get(status="pooled")
    Organization.objects.filter(pk=spare.pk).update(created_at=timezone.now() - DAYS_AGO)
    return spare


def test_claiming_a_pooled_schema_dates_the_organization_at_the_claim():
    spare = spare_from_three_days_ago()
    before = timezone.now()

    result = provision_tenant(slug="poolco", name="Pool Co")

    assert (result.method, result.tenant.pk) == ("pool", spare.pk)
    org = Organization.objects.get(pk=spare.pk)
    assert before <= org.created_at <= timezone.now()


def test_cli_admin_and_api_show_the_signup_time(settings):
    settings.NOVATIME_TENANT_POOL_SIZE = 0  # no refill task
    spare_from_three_days_ago()
    call_command(
        "tenants",
        "create",
        "--slug=poolco",
        "--name=Pool Co",
        "--owner-email=owner@poolco.test",
        stdout=io.StringIO(),
    )
    org = Organization.objects.get(slug="poolco")
    assert timezone.now() - org.created_at < datetime.timedelta(minutes=1)

    out = io.StringIO()
    call_command("tenants", "list", "--json", stdout=out)
    listed = next(r for r in json.loads(out.getvalue()) if r["slug"] == "poolco")
    api = client_as(org, Membership.objects.get(organization=org)).get("/api/v1/organization/")
    staff = get_user_model().objects.create_superuser("root@novatime.test", "admin-pass-123")
    browser = BrowserClient(HTTP_HOST="localhost")
    otp_force_login(browser, staff)
    page = browser.get(
        reverse(
            "admin:organizations_organization_change", args=[org.pk], urlconf="config.urls_public"
        )
    )

    assert datetime.datetime.fromisoformat(listed["created_at"]) == org.created_at
    assert datetime.datetime.fromisoformat(api.json()["created_at"]) == org.created_at
    assert page.context["original"].created_at == org.created_at


# --- the data migration for rows claimed before the fix --------------------------------


def _migrate_existing_rows() -> None:
    migration = importlib.import_module(
        "apps.organizations.migrations.0006_created_at_is_the_claim_time"
    )
    with connection.cursor() as cursor:
        cursor.execute(migration.FORWARDS)


def _customer(slug: str, *, row_age: datetime.timedelta, signup_age: datetime.timedelta) -> Any:
    now = timezone.now()
    org = Organization.objects.create(
        schema_name=f"t_createdat_{slug}", slug=slug, name=slug, status="active"
    )
    Organization.objects.filter(pk=org.pk).update(created_at=now - row_age)
    Domain.objects.create(
        domain=f"{slug}.localhost", tenant=org, is_primary=True, created_at=now - signup_age
    )
    return org


def test_migration_dates_claimed_rows_at_their_signup_and_leaves_the_rest():
    claimed = _customer("claimed", row_age=DAYS_AGO, signup_age=datetime.timedelta(hours=2))
    owner = Membership.objects.create(
        user=get_user_model().objects.create_user(email="o@claimed.test"),
        organization=claimed,
        role="owner",
    )
    Membership.objects.filter(pk=owner.pk).update(
        joined_at=timezone.now() - datetime.timedelta(hours=2, seconds=1)
    )
    built = _customer(
        "built", row_age=DAYS_AGO, signup_age=DAYS_AGO - datetime.timedelta(seconds=2)
    )
    spare = Organization.objects.create(schema_name="t_createdat_spare", status="pooled")
    Organization.objects.filter(pk=spare.pk).update(created_at=timezone.now() - DAYS_AGO)
    before = dict(Organization.objects.values_list("pk", "created_at"))

    _migrate_existing_rows()

    after = dict(Organization.objects.values_list("pk", "created_at"))
    # The owner's membership is the earliest trace of the signup.
    assert after[claimed.pk] == Membership.objects.get(pk=owner.pk).joined_at
    assert after[built.pk] == before[built.pk]  # built at signup: nothing to fix
    assert after[spare.pk] == before[spare.pk]  # still a spare
    assert {pk: at for pk, at in after.items() if pk != claimed.pk} == {
        pk: at for pk, at in before.items() if pk != claimed.pk
    }
