"""A currency in use does not change (#18 section 6 review): an amount's
currency is read from its client (else the organization) when shown, so a
change would relabel past amounts (USD 350.00 shown as JPY 350.00) while
approved timesheet snapshots keep the old label. Changing a client's
currency, moving a project to a client in another currency, or changing the
organization's currency is refused (409 ``currency_in_use``) while priced,
live entries would change currency; nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from apps.common.testing import expect
from apps.organizations.tests.factories import client_as
from apps.projects.models import Client, Project
from apps.projects.tests.factories import ClientFactory, ProjectFactory
from apps.time_entries.reports.tests.factories import at, make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(in_tenant: Any) -> Any:
    """Organization in EUR; client Xylo in USD with project Apollo holding one
    priced entry; client Yen in JPY; client Plain without a currency."""
    in_tenant.currency = "EUR"
    in_tenant.save(update_fields=["currency"])
    admin = client_as(in_tenant, "admin")
    xylo = ClientFactory(name="Xylo", currency="USD")
    apollo = ProjectFactory(name="Apollo", client=xylo)
    make_entry(
        user_id=admin.user.pk,
        project=apollo,
        start=at("2026-03-02 09:00"),
        seconds=3600,
        rate="350",
    )
    return admin, xylo, apollo, in_tenant


def _refused(response: Any, field: str) -> None:
    body = expect(response, 409)
    assert body["code"] == "currency_in_use"
    assert field in body["fields"]


def test_a_clients_currency_with_priced_entries_is_refused(priced):
    admin, xylo, *_ = priced
    _refused(
        admin.patch(f"/api/v1/clients/{xylo.pk}/", {"currency": "JPY"}, format="json"), "currency"
    )
    _refused(
        admin.patch(f"/api/v1/clients/{xylo.pk}/", {"currency": ""}, format="json"), "currency"
    )
    assert Client.objects.get(pk=xylo.pk).currency == "USD"


def test_the_same_effective_currency_and_other_fields_are_fine(priced):
    admin, xylo, *_ = priced
    expect(admin.patch(f"/api/v1/clients/{xylo.pk}/", {"currency": "usd"}, format="json"), 200)
    expect(admin.patch(f"/api/v1/clients/{xylo.pk}/", {"name": "Xylo Inc"}, format="json"), 200)
    plain = ClientFactory(name="Plain", currency="")
    ProjectFactory(name="Borealis", client=plain)
    # "" means the organization's EUR: naming it explicitly changes nothing.
    expect(admin.patch(f"/api/v1/clients/{plain.pk}/", {"currency": "EUR"}, format="json"), 200)


def test_without_priced_entries_the_currency_can_change(priced):
    admin = priced[0]
    # Entries without a price, and a soft-deleted priced one, relabel nothing.
    other = ClientFactory(name="Unpriced", currency="USD")
    project = ProjectFactory(name="Gamma", client=other)
    make_entry(
        user_id=admin.user.pk, project=project, start=at("2026-03-03 09:00"), seconds=600, rate=None
    )
    make_entry(
        user_id=admin.user.pk,
        project=project,
        start=at("2026-03-04 09:00"),
        seconds=600,
        rate="10",
        deleted=True,
    )
    expect(admin.patch(f"/api/v1/clients/{other.pk}/", {"currency": "JPY"}, format="json"), 200)
    assert Client.objects.get(pk=other.pk).currency == "JPY"


def test_moving_a_priced_project_to_a_client_in_another_currency_is_refused(priced):
    admin, _, apollo, _ = priced
    yen = ClientFactory(name="Yen", currency="JPY")
    plain = ClientFactory(name="Plain", currency="")  # the organization's EUR
    for target in (str(yen.pk), str(plain.pk), None):
        _refused(
            admin.patch(f"/api/v1/projects/{apollo.pk}/", {"client": target}, format="json"),
            "client",
        )
    assert Project.objects.get(pk=apollo.pk).client_id == priced[1].pk
    dollars = ClientFactory(name="Dollars", currency="USD")
    expect(
        admin.patch(f"/api/v1/projects/{apollo.pk}/", {"client": str(dollars.pk)}, format="json"),
        200,
    )


def test_the_organizations_currency_with_priced_entries_of_its_own_is_refused(priced):
    admin, *_, tenant = priced
    # Apollo's entries are in USD (their client's): the organization's EUR is free.
    expect(admin.patch("/api/v1/organization/", {"currency": "GBP"}, format="json"), 200)
    borealis = ProjectFactory(name="Borealis", client=None)
    make_entry(
        user_id=admin.user.pk, project=borealis, start=at("2026-03-05 09:00"), seconds=60, rate="5"
    )
    _refused(admin.patch("/api/v1/organization/", {"currency": "JPY"}, format="json"), "currency")
    tenant.refresh_from_db()
    assert tenant.currency == "GBP"
