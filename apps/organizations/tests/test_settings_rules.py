"""Organization settings that must not be set to something harmful:
``require_two_factor`` by an owner who has no second factor (it would lock
everyone out, the owner included), and currencies that are not ISO 4217,
from every place a currency is accepted (settings API, clients API,
``tenants create``, the admin form)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client as BrowserClient
from django.urls import reverse
from django_tenants.utils import get_tenant_model, tenant_context

from apps.common.currencies import ISO_4217_CODES
from apps.common.testing import expect, otp_force_login, totp_device
from apps.organizations.models import Organization
from apps.organizations.tests.factories import client_as
from apps.projects.models import Client

pytestmark = pytest.mark.django_db

SETTINGS = "/api/v1/organization/"


def settings_row(org: Any) -> dict[str, Any]:
    return Organization.objects.filter(pk=org.pk).values().get()


# --- require_two_factor ---------------------------------------------------------------


def test_an_owner_without_two_factor_cannot_require_it(tenant):
    owner = client_as(tenant, "owner")
    before = settings_row(tenant)

    body = expect(
        owner.patch(SETTINGS, {"require_two_factor": True, "name": "Renamed"}, format="json"),
        409,
        "two_factor_required_for_actor",
    )

    assert "require_two_factor" in body["fields"]
    assert settings_row(tenant) == before  # nothing written, not even the name
    assert owner.get(SETTINGS).status_code == 200  # and the owner is not locked out


def test_an_owner_with_a_confirmed_device_can_require_it(tenant):
    owner = client_as(tenant, "owner")
    totp_device(owner.user)

    expect(owner.patch(SETTINGS, {"require_two_factor": True}, format="json"), 200)

    assert Organization.objects.get(pk=tenant.pk).require_two_factor is True
    assert owner.get(SETTINGS).status_code == 200  # the owner still gets in


def test_an_unconfirmed_device_is_not_enough(tenant):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    owner = client_as(tenant, "owner")
    TOTPDevice.objects.create(user=owner.user, name="half-done", confirmed=False)

    expect(
        owner.patch(SETTINGS, {"require_two_factor": True}, format="json"),
        409,
        "two_factor_required_for_actor",
    )
    assert Organization.objects.get(pk=tenant.pk).require_two_factor is False


def test_other_settings_and_switching_it_off_need_no_second_factor(tenant):
    owner = client_as(tenant, "owner")

    expect(
        owner.patch(SETTINGS, {"require_two_factor": False, "name": "Acme 2"}, format="json"),
        200,
    )

    assert Organization.objects.get(pk=tenant.pk).name == "Acme 2"


# --- currency: one ISO 4217 rule everywhere ----------------------------------------------


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "XTS", "ABC", "HRK", "US1", "EURO", ""])
def test_settings_api_refuses_what_is_not_an_iso_4217_currency(tenant, code):
    before = settings_row(tenant)

    body = expect(
        client_as(tenant, "owner").patch(SETTINGS, {"currency": code}, format="json"), 400
    )

    assert "currency" in body["fields"]
    assert settings_row(tenant) == before


@pytest.mark.parametrize(("given", "stored"), [("eur", "EUR"), ("JPY", "JPY"), (" chf ", "CHF")])
def test_settings_api_takes_iso_codes_in_any_case(tenant, given, stored):
    expect(client_as(tenant, "owner").patch(SETTINGS, {"currency": given}, format="json"), 200)

    assert Organization.objects.get(pk=tenant.pk).currency == stored


def test_clients_api_refuses_an_unknown_currency_and_takes_blank_or_iso(in_tenant):
    manager = client_as(in_tenant, "manager")

    body = expect(
        manager.post("/api/v1/clients/", {"name": "Initech", "currency": "ZZZ"}, format="json"),
        400,
    )
    assert "currency" in body["fields"]
    assert not Client.objects.filter(name="Initech").exists()

    expect(manager.post("/api/v1/clients/", {"name": "Globex", "currency": ""}, format="json"), 201)
    created = expect(
        manager.post("/api/v1/clients/", {"name": "Umbrella", "currency": "gbp"}, format="json"),
        201,
    )
    assert created["currency"] == "GBP"
    with tenant_context(in_tenant):
        assert Client.objects.get(name="Globex").currency == ""


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "usd1"])
def test_tenants_create_refuses_an_unknown_currency_and_writes_nothing(code):
    orgs_before = get_tenant_model().objects.count()

    with pytest.raises(CommandError) as err:
        call_command(
            "tenants",
            "create",
            "--slug=moneyco",
            "--name=Money Co",
            "--owner-email=owner@moneyco.test",
            f"--currency={code}",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )

    assert err.value.returncode == 2
    assert str(err.value).startswith("invalid: Invalid organization settings (currency: ")
    assert get_tenant_model().objects.count() == orgs_before
    assert not get_user_model().objects.filter(email="owner@moneyco.test").exists()


def test_tenants_create_stores_a_lower_case_code_upper_case():
    call_command(
        "tenants",
        "create",
        "--slug=moneyco",
        "--name=Money Co",
        "--owner-email=owner@moneyco.test",
        "--currency=sek",
        stdout=io.StringIO(),
    )

    assert get_tenant_model().objects.get(slug="moneyco").currency == "SEK"


def test_admin_form_refuses_an_unknown_currency(tenant):
    staff = get_user_model().objects.create_superuser("root@novatime.test", "admin-pass-123")
    browser = BrowserClient(HTTP_HOST="localhost")
    otp_force_login(browser, staff)
    url = reverse(
        "admin:organizations_organization_change", args=[tenant.pk], urlconf="config.urls_public"
    )
    form = browser.get(url).context["adminform"].form
    data = {
        name: form[name].value() for name in form.fields if form[name].value() not in (None, False)
    }
    data.update({"currency": "ZZZ", "memberships-TOTAL_FORMS": "0", "domains-TOTAL_FORMS": "0"})
    data.update({"memberships-INITIAL_FORMS": "0", "domains-INITIAL_FORMS": "0"})

    response = browser.post(url, data)

    assert response.status_code == 200  # the form again, with the error
    assert "currency" in response.context["adminform"].form.errors
    assert Organization.objects.get(pk=tenant.pk).currency == "USD"


def test_the_code_list_holds_the_common_currencies_and_no_test_codes():
    assert {"USD", "EUR", "GBP", "JPY", "CHF", "SEK", "INR", "BRL", "XOF", "XCG"} <= ISO_4217_CODES
    assert not {"XXX", "XTS", "XAU", "HRK", "ZZZ"} & ISO_4217_CODES
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in ISO_4217_CODES)
