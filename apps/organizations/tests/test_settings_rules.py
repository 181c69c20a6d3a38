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


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "XTS", "ABC", "HRK", "BGN", "US1", "EURO", ""])
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


def _admin_post(tenant: Any, **changes: str) -> Any:
    """POST the organization's admin change form as loaded, with ``changes``."""
    staff = get_user_model().objects.create_superuser("root@novatime.test", "admin-pass-123")
    browser = BrowserClient(HTTP_HOST="localhost")
    otp_force_login(browser, staff)
    url = reverse(
        "admin:organizations_organization_change", args=[tenant.pk], urlconf="config.urls_public"
    )
    form = browser.get(url).context["adminform"].form
    # Unchecked boxes and empty values are not posted (0, a Monday week
    # start, is a value: compared by identity, 0 == False).
    values = {name: form[name].value() for name in form.fields}
    data = {name: v for name, v in values.items() if v is not None and v is not False}
    data.update({"memberships-TOTAL_FORMS": "0", "domains-TOTAL_FORMS": "0"})
    data.update({"memberships-INITIAL_FORMS": "0", "domains-INITIAL_FORMS": "0"})
    data.update(changes)
    return browser.post(url, data)


def test_admin_form_refuses_an_unknown_currency(tenant):
    response = _admin_post(tenant, currency="ZZZ")

    assert response.status_code == 200  # the form again, with the error
    assert "currency" in response.context["adminform"].form.errors
    assert Organization.objects.get(pk=tenant.pk).currency == "USD"


def test_the_code_list_holds_the_common_currencies_and_no_test_codes():
    assert {"USD", "EUR", "GBP", "JPY", "CHF", "SEK", "INR", "BRL", "XOF", "XCG"} <= ISO_4217_CODES
    # Withdrawn: the kuna (2023), the lev (Bulgaria's euro, 2026-01-01).
    assert not {"XXX", "XTS", "XAU", "HRK", "BGN", "ZZZ"} & ISO_4217_CODES
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in ISO_4217_CODES)


# --- a withdrawn code already stored stays valid until it changes ---------------------


@pytest.fixture
def in_lev(tenant: Any) -> Any:
    """An organization (and a client) that chose BGN while it was accepted."""
    Organization.objects.filter(pk=tenant.pk).update(currency="BGN")
    tenant.refresh_from_db()
    return tenant


def test_an_organization_in_a_withdrawn_currency_can_save_other_settings(in_lev):
    owner = client_as(in_lev, "owner")

    expect(owner.patch(SETTINGS, {"name": "Sofia Ltd"}, format="json"), 200)
    expect(owner.patch(SETTINGS, {"name": "Sofia", "currency": "bgn"}, format="json"), 200)
    assert (settings_row(in_lev)["name"], settings_row(in_lev)["currency"]) == ("Sofia", "BGN")
    # Changing it is checked: to another withdrawn code no, to the euro yes.
    expect(owner.patch(SETTINGS, {"currency": "HRK"}, format="json"), 400)
    expect(owner.patch(SETTINGS, {"currency": "EUR"}, format="json"), 200)
    expect(owner.patch(SETTINGS, {"currency": "BGN"}, format="json"), 400)
    assert settings_row(in_lev)["currency"] == "EUR"


@pytest.mark.parametrize("code", ["BGN", "HRK"])
def test_the_admin_form_saves_an_organization_in_a_withdrawn_currency(tenant, code):
    Organization.objects.filter(pk=tenant.pk).update(currency=code)

    response = _admin_post(tenant, name="Sofia Ltd")

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert (settings_row(tenant)["name"], settings_row(tenant)["currency"]) == ("Sofia Ltd", code)


def test_a_client_in_a_withdrawn_currency_can_be_renamed_not_set_anew(in_tenant):
    manager = client_as(in_tenant, "manager")
    lev = Client.objects.create(name="Lev Co", currency="BGN")

    expect(
        manager.patch(
            f"/api/v1/clients/{lev.pk}/", {"name": "Lev Inc", "currency": "BGN"}, format="json"
        ),
        200,
    )
    body = expect(
        manager.post("/api/v1/clients/", {"name": "New Lev", "currency": "BGN"}, format="json"),
        400,
    )
    assert "currency" in body["fields"]
    assert Client.objects.get(pk=lev.pk).name == "Lev Inc"


# --- every writable setting is saved ----------------------------------------------------

RULES = {
    "allow_overlapping_entries": True,
    "members_see_rates": True,
    "forgotten_timer_hours": 5,
    "auto_stop_timers": True,
    "allow_self_approval": True,
    "approvers_limited_to_managed_projects": True,
    "auto_submit_timesheets": True,
}


def test_every_rule_the_api_lists_as_writable_is_saved(tenant):
    admin = client_as(tenant, "admin")
    before = settings_row(tenant)
    changed = {k: (not before[k]) if isinstance(v, bool) else v for k, v in RULES.items()}

    body = expect(admin.patch(SETTINGS, changed, format="json"), 200)

    row = settings_row(tenant)
    assert {k: row[k] for k in changed} == changed
    assert {k: body[k] for k in changed} == changed


def test_sending_data_to_an_external_llm_is_the_owners_decision(tenant):
    admin = client_as(tenant, "admin")
    owner = client_as(tenant, "owner")
    wanted = not settings_row(tenant)["ai_external_llm_enabled"]

    expect(
        admin.patch(SETTINGS, {"ai_external_llm_enabled": wanted}, format="json"),
        403,
        "role_required",
    )
    assert settings_row(tenant)["ai_external_llm_enabled"] is not wanted
    expect(owner.patch(SETTINGS, {"ai_external_llm_enabled": wanted}, format="json"), 200)
    assert settings_row(tenant)["ai_external_llm_enabled"] is wanted


def test_the_timesheet_period_is_saved(tenant):
    admin = client_as(tenant, "admin")
    other = "monthly" if settings_row(tenant)["timesheet_period"] != "monthly" else "weekly"

    body = expect(admin.patch(SETTINGS, {"timesheet_period": other}, format="json"), 200)

    assert body["timesheet_period"] == other == settings_row(tenant)["timesheet_period"]
