"""An operator's suspension and its lifting: ``manage.py tenants suspend|resume``
and the admin's actions call the same services (``organization_suspend``,
``organization_resume``), so they allow, refuse and restore alike.

Every scenario runs through both front doors (``via``): the CLI (exit code 2
and ``code: message``) and the admin action (a warning naming the row).
"""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.billing.constants import SubscriptionStatus
from apps.billing.dunning import dunning_sweep
from apps.billing.models import Plan, Subscription
from apps.common.testing import otp_force_login
from apps.organizations.constants import OrganizationStatus
from apps.organizations.models import Organization
from tenants.provisioning import set_tenant_status
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

ORG_CHANGELIST = reverse(
    "admin:organizations_organization_changelist", urlconf="config.urls_public"
)


@pytest.fixture
def staff_client() -> Client:
    client = Client(HTTP_HOST="localhost")
    otp_force_login(
        client, get_user_model().objects.create_superuser("root@novatime.test", "admin-pass-123")
    )
    return client


class Outcome:
    """What a front door answered: ``ok`` and the refusal ``code`` (if any)."""

    def __init__(self, ok: bool, code: str | None = None, text: str = "") -> None:
        self.ok, self.code, self.text = ok, code, text


def _cli(action: str, org: Organization, _staff: Client | None) -> Outcome:
    out = io.StringIO()
    try:
        call_command("tenants", action, org.slug, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        assert exc.returncode == 2
        assert "\n" not in str(exc)
        code, _, message = str(exc).partition(": ")
        return Outcome(False, code, message)
    return Outcome(True, text=out.getvalue())


def _admin(action: str, org: Organization, staff: Client | None) -> Outcome:
    assert staff is not None
    response = staff.post(
        ORG_CHANGELIST + "?kind=all",
        {"action": f"{action}_organizations", "_selected_action": [str(org.pk)]},
    )
    assert response.status_code == 302
    page = staff.get(response["Location"])
    shown = [(m.level_tag, str(m)) for m in page.context["messages"]]
    assert len(shown) == 1, shown
    level, text = shown[0]
    if level == "success":
        return Outcome(True, text=text)
    verb = "suspended" if action == "suspend" else "resumed"
    prefix = f"Not {verb}: {org.slug}: "
    assert text.startswith(prefix), text
    return Outcome(False, text[len(prefix) :].split(" (", 1)[0], text)


FRONT_DOORS = {"cli": _cli, "admin": _admin}


@pytest.fixture(params=sorted(FRONT_DOORS))
def via(request: Any, staff_client: Client) -> Any:
    door = FRONT_DOORS[request.param]

    def run(action: str, org: Organization) -> Outcome:
        return door(action, org, staff_client)

    return run


def status_of(org: Organization) -> str:
    return Organization.objects.values_list("status", flat=True).get(pk=org.pk)


def trial(org: Organization, **fields: Any) -> Subscription:
    fields.setdefault("status", SubscriptionStatus.TRIALING)
    fields.setdefault("trial_ends_at", timezone.now() + datetime.timedelta(days=10))
    return Subscription.objects.create(
        organization=org, plan=Plan.objects.get(code="pro"), **fields
    )


# --- restoring the status the suspension interrupted ---------------------------------


@pytest.mark.parametrize(
    "before", [OrganizationStatus.TRIALING, OrganizationStatus.ACTIVE, OrganizationStatus.PAST_DUE]
)
def test_resume_restores_the_status_before_the_suspension(via, tenant, before):
    set_tenant_status(tenant, before)

    suspended = via("suspend", tenant)
    assert suspended.ok, suspended.text
    assert status_of(tenant) == OrganizationStatus.SUSPENDED
    assert Organization.objects.get(pk=tenant.pk).status_before_suspension == before

    resumed = via("resume", tenant)

    assert resumed.ok, resumed.text
    assert status_of(tenant) == before
    assert Organization.objects.get(pk=tenant.pk).status_before_suspension == ""


def test_cli_output_names_what_was_interrupted_and_what_came_back(tenant):
    set_tenant_status(tenant, OrganizationStatus.TRIALING)

    assert _cli("suspend", tenant, None).text == "acme suspended (read-only; was trialing)\n"
    assert _cli("resume", tenant, None).text == "acme resumed: trialing\n"


def test_resume_writes_again_on_the_host_at_once(via, tenant):
    api = TenantAPIClient(tenant)
    via("suspend", tenant)
    assert api.post("/api/v1/meta/").status_code == 402  # now cached as suspended

    via("resume", tenant)

    assert api.post("/api/v1/meta/").status_code == 405  # past the middleware again


# --- refusals: the same from the CLI and the admin -----------------------------------


def test_suspending_twice_says_already_suspended(via, tenant):
    assert via("suspend", tenant).ok

    again = via("suspend", tenant)

    assert (again.ok, again.code) == (False, "already_suspended")
    tenant.refresh_from_db()
    assert (tenant.status, tenant.status_before_suspension) == ("suspended", "active")


def test_resuming_an_organization_that_is_not_suspended_is_refused(via, tenant):
    set_tenant_status(tenant, OrganizationStatus.TRIALING)

    outcome = via("resume", tenant)

    assert (outcome.ok, outcome.code) == (False, "not_suspended")
    assert status_of(tenant) == OrganizationStatus.TRIALING


@pytest.mark.parametrize(
    "status",
    [
        OrganizationStatus.CANCELLED,
        OrganizationStatus.PROVISIONING,
        OrganizationStatus.POOLED,
    ],
)
def test_statuses_that_cannot_be_suspended_are_refused(via, tenant, status):
    set_tenant_status(tenant, status)

    outcome = via("suspend", tenant)

    assert (outcome.ok, outcome.code) == (False, "not_suspendable")
    assert status_of(tenant) == status


def test_a_suspension_by_billing_is_not_lifted_by_an_operator(via, tenant):
    trial(tenant, status=SubscriptionStatus.UNPAID, suspended_by_billing=True)
    set_tenant_status(tenant, OrganizationStatus.SUSPENDED)

    outcome = via("resume", tenant)

    assert (outcome.ok, outcome.code) == (False, "suspended_by_billing")
    assert status_of(tenant) == OrganizationStatus.SUSPENDED


def test_the_cli_message_is_code_then_reason(tenant):
    set_tenant_status(tenant, OrganizationStatus.CANCELLED)

    with pytest.raises(CommandError) as err:
        call_command("tenants", "resume", "acme", stdout=io.StringIO(), stderr=io.StringIO())

    assert err.value.returncode == 2
    assert str(err.value) == "not_suspended: The organization is not suspended (it is cancelled)."


# --- billing moved on while the operator's suspension lasted -------------------------


def test_a_trial_that_ended_during_the_suspension_resumes_active(via, tenant):
    subscription = trial(tenant)
    set_tenant_status(tenant, OrganizationStatus.TRIALING)
    assert via("suspend", tenant).ok
    # The trial ends meanwhile: billing moves the subscription to the Free
    # plan but leaves an operator's suspension alone.
    dunning_sweep(now=timezone.now() + datetime.timedelta(days=11))
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert status_of(tenant) == OrganizationStatus.SUSPENDED

    assert via("resume", tenant).ok

    assert status_of(tenant) == OrganizationStatus.ACTIVE


def test_a_grace_period_that_ran_out_during_the_suspension_keeps_it_read_only(via, tenant):
    subscription = trial(
        tenant,
        status=SubscriptionStatus.PAST_DUE,
        past_due_since=timezone.now() - datetime.timedelta(days=30),  # grace: 7 days
    )
    set_tenant_status(tenant, OrganizationStatus.PAST_DUE)
    assert via("suspend", tenant).ok
    dunning_sweep()  # the grace period is over, but the suspension is the operator's
    assert status_of(tenant) == OrganizationStatus.SUSPENDED  # still the operator's

    assert via("resume", tenant).ok

    # Now billing's suspension: lifted when the customer pays, 402 says why.
    assert status_of(tenant) == OrganizationStatus.SUSPENDED
    subscription.refresh_from_db()
    assert subscription.suspended_by_billing is True
    blocked = TenantAPIClient(tenant).post("/api/v1/meta/")
    assert (blocked.status_code, blocked.json()["code"]) == (402, "subscription_inactive")


def test_a_row_suspended_before_the_status_was_recorded_resumes_as_billing_says(tenant):
    trial(tenant)
    set_tenant_status(tenant, OrganizationStatus.SUSPENDED)  # no status_before_suspension

    assert _cli("resume", tenant, None).text == "acme resumed: trialing\n"


def test_only_the_named_organization_changes(via, tenant, other_tenant):
    before = status_of(other_tenant)

    via("suspend", tenant)
    via("resume", tenant)

    assert status_of(other_tenant) == before
