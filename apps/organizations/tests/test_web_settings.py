"""The Settings pages (``/settings/`` and its sections, issue #20): who may
open them, that every form writes what the API writes (same serializer, same
service, same messages next to the fields, what was typed kept), and that
the pages' queries stay flat in the number of members and invitations."""

from __future__ import annotations

import html as htmllib
import re
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.billing.tests.conftest import fake_stripe, make_subscription, stripe_settings  # noqa: F401
from apps.common.testing import app_queries, totp_device
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.organizations import services
from apps.organizations.models import Invitation, InvitationStatus, Membership, Organization
from apps.organizations.tests.factories import MembershipFactory, client_as
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

SECTIONS = [
    "/settings/",
    "/settings/members/",
    "/settings/invitations/",
    "/settings/rates/",
    "/settings/time-tracking/",
    "/settings/automation/",
    "/settings/billing/",
]


def signed_in(tenant, role="admin", membership=None) -> TenantAPIClient:
    membership = membership or MembershipFactory(organization=tenant, role=role)
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    client.membership = membership
    return client


def html(response) -> str:
    return response.content.decode()


def field_errors(body: str, field: str) -> list[str]:
    """The messages shown next to ``field`` (form_field.html's list)."""
    match = re.search(rf'<ul class="field-errors" id="id_{field}-errors">(.*?)</ul>', body, re.S)
    found = re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []
    return [htmllib.unescape(message) for message in found]


def org_row(tenant) -> dict[str, Any]:
    return Organization.objects.filter(pk=tenant.pk).values().get()


def api_error(tenant, method: str, path: str, body: dict[str, Any], who="owner") -> dict:
    """The API's answer to the same request (to compare messages)."""
    client = client_as(tenant, who)
    return getattr(client, method)(path, body, format="json").json()


# --- who may open the settings ----------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "member", "manager"])
@pytest.mark.parametrize("path", SECTIONS)
def test_roles_below_admin_are_refused_every_section(tenant, role, path):
    client = signed_in(tenant, role)

    response = client.get(path)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "Only owners and admins can open the settings." in html(response)


@pytest.mark.parametrize("role", ["member", "manager"])
def test_a_refused_post_changes_nothing(tenant, role):
    client = signed_in(tenant, role)
    before = org_row(tenant)

    response = client.post("/settings/", {"name": "Hijacked", "timezone": "UTC"})

    assert response.status_code == 403
    assert org_row(tenant) == before


@pytest.mark.parametrize("role", ["admin", "owner"])
@pytest.mark.parametrize("path", SECTIONS)
def test_owners_and_admins_open_every_section(tenant, role, path):
    response = signed_in(tenant, role).get(path)

    assert response.status_code == 200
    body = html(response)
    assert '<nav class="settings-nav" aria-label="Settings sections">' in body
    assert 'aria-current="page"' in body


def test_forms_need_the_csrf_token(tenant):
    client = signed_in(tenant)
    client.handler.enforce_csrf_checks = True
    before = org_row(tenant)

    response = client.post("/settings/", {"name": "No token", "timezone": "UTC"})

    assert response.status_code == 403
    assert org_row(tenant) == before


# --- organization -----------------------------------------------------------------------

GOOD_ORG = {
    "name": "Acme Renamed",
    "timezone": "Europe/Berlin",
    "week_start": "6",
    "currency": "eur",
}


def test_organization_form_saves_through_the_api_service(tenant):
    client = signed_in(tenant, "owner")
    page = html(client.get("/settings/"))
    assert '<label for="id_name">Organization name</label>' in page
    assert 'name="csrfmiddlewaretoken"' in page

    response = client.post("/settings/", GOOD_ORG)

    assert response.status_code == 302 and response["Location"] == "/settings/"
    row = org_row(tenant)
    assert (row["name"], row["timezone"], row["week_start"], row["currency"]) == (
        "Acme Renamed",
        "Europe/Berlin",
        6,
        "EUR",  # upper-cased by the API's own currency rule
    )
    assert "Settings saved." in html(client.get("/settings/"))


def test_organization_error_is_the_apis_message_next_to_the_field_and_input_kept(tenant):
    client = signed_in(tenant, "owner")
    bad = {**GOOD_ORG, "currency": "XQQ", "name": "Typed name"}
    before = org_row(tenant)
    expected = api_error(tenant, "patch", "/api/v1/organization/", {"currency": "XQQ"})

    response = client.post("/settings/", bad)

    assert response.status_code == 400
    body = html(response)
    assert field_errors(body, "currency") == expected["fields"]["currency"]
    assert 'value="XQQ"' in body and 'value="Typed name"' in body
    assert org_row(tenant) == before


def test_an_admin_cannot_change_the_owner_only_setting(tenant):
    client = signed_in(tenant, "admin")
    page = html(client.get("/settings/"))
    assert re.search(r'<input type="checkbox" name="require_two_factor"[^>]*disabled', page)
    assert "Only owners can change this." in page

    response = client.post("/settings/", {**GOOD_ORG, "require_two_factor": "on"})

    assert response.status_code == 302
    row = org_row(tenant)
    assert row["require_two_factor"] is False and row["name"] == "Acme Renamed"


def test_an_owner_without_two_factor_is_told_why_requiring_it_is_refused(tenant):
    client = signed_in(tenant, "owner")
    before = org_row(tenant)

    response = client.post("/settings/", {**GOOD_ORG, "require_two_factor": "on"})

    assert response.status_code == 409
    assert field_errors(html(response), "require_two_factor") == [
        "You have no confirmed two-factor device: set one up first."
    ]
    assert org_row(tenant) == before


def test_an_owner_with_two_factor_requires_it(tenant):
    client = signed_in(tenant, "owner")
    totp_device(client.membership.user)  # enrolled after signing in (no code step here)

    response = client.post("/settings/", {**GOOD_ORG, "require_two_factor": "on"})

    assert response.status_code == 302
    assert org_row(tenant)["require_two_factor"] is True


# --- time-tracking rules ----------------------------------------------------------------


def test_time_tracking_rules_save_and_refuse_with_the_apis_message(tenant):
    client = signed_in(tenant)
    good = {"idle_threshold_minutes": "25", "rounding_mode": "up", "rounding_minutes": "30"}

    assert client.post("/settings/time-tracking/", good).status_code == 302
    row = org_row(tenant)
    assert (row["idle_threshold_minutes"], row["rounding_mode"], row["rounding_minutes"]) == (
        25,
        "up",
        30,
    )

    expected = api_error(tenant, "patch", "/api/v1/organization/", {"idle_threshold_minutes": 0})
    response = client.post("/settings/time-tracking/", {**good, "idle_threshold_minutes": "0"})

    assert response.status_code == 400
    body = html(response)
    assert (
        field_errors(body, "idle_threshold_minutes") == expected["fields"]["idle_threshold_minutes"]
    )
    assert 'value="0"' in body
    assert org_row(tenant)["idle_threshold_minutes"] == 25
    assert "Time entries may overlap" in body  # the rules the API does not change, shown


# --- members and roles ------------------------------------------------------------------


def test_change_a_members_role(tenant):
    client = signed_in(tenant)
    member = MembershipFactory(organization=tenant, role="member")
    page = html(client.get("/settings/members/"))
    assert (
        f'<label for="role-{member.pk}">Role<span class="visually-hidden"> '
        f"of {member.user.email}</span></label>"
    ) in page

    response = client.post(f"/settings/members/{member.pk}/role/", {"role": "manager"})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == "manager"
    assert "Role changed." in html(client.get("/settings/members/"))


def test_the_last_owner_cannot_be_demoted_and_the_page_says_so(tenant):
    owner = MembershipFactory(organization=tenant, role="owner")
    client = signed_in(tenant, membership=owner)

    response = client.post(f"/settings/members/{owner.pk}/role/", {"role": "admin"})

    assert response.status_code == 409
    body = html(response)
    assert "The last owner cannot be demoted: transfer ownership first." in body
    assert f'id="member-{owner.pk}-errors"' in body
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_the_last_owner_cannot_leave(tenant):
    owner = MembershipFactory(organization=tenant, role="owner")
    client = signed_in(tenant, membership=owner)

    response = client.post(f"/settings/members/{owner.pk}/remove/")

    assert response.status_code == 409
    assert "The last owner cannot leave or be removed: transfer ownership first." in html(response)
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_admin_cannot_touch_an_owner(tenant):
    owner = MembershipFactory(organization=tenant, role="owner")
    client = signed_in(tenant, "admin")

    response = client.post(f"/settings/members/{owner.pk}/role/", {"role": "member"})

    assert response.status_code == 403
    assert "Your role in this organization does not allow this." in html(response)
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_an_unknown_role_is_refused_with_the_apis_message(tenant):
    client = signed_in(tenant)
    member = MembershipFactory(organization=tenant, role="member")

    response = client.post(f"/settings/members/{member.pk}/role/", {"role": "emperor"})

    assert response.status_code == 400
    assert "&quot;emperor&quot; is not a valid choice." in html(response)
    member.refresh_from_db()
    assert member.role == "member"


def test_remove_a_member_and_transfer_ownership(tenant):
    owner = MembershipFactory(organization=tenant, role="owner")
    client = signed_in(tenant, membership=owner)
    member = MembershipFactory(organization=tenant, role="member")
    heir = MembershipFactory(organization=tenant, role="admin")

    assert client.post(f"/settings/members/{member.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert client.post(f"/settings/members/{heir.pk}/make-owner/").status_code == 302
    heir.refresh_from_db()
    owner.refresh_from_db()
    assert (heir.role, owner.role) == ("owner", "admin")


def test_a_member_of_another_organization_is_not_found(tenant, other_tenant):
    client = signed_in(tenant)
    stranger = MembershipFactory(organization=other_tenant, role="member")

    response = client.post(f"/settings/members/{stranger.pk}/remove/")

    assert response.status_code == 404
    assert Membership.objects.filter(pk=stranger.pk).exists()


# --- invitations ------------------------------------------------------------------------


def test_invite_by_email_and_role_sends_the_apis_email(tenant, django_capture_on_commit_callbacks):
    client = signed_in(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/settings/invitations/", {"email": "New.Person@Example.test", "role": "manager"}
        )

    assert response.status_code == 302
    invitation = Invitation.objects.get(organization=tenant, email="new.person@example.test")
    assert invitation.role == "manager" and invitation.invited_by_id == client.membership.user_id
    [message] = mail.outbox
    assert message.to == ["new.person@example.test"]
    body = html(client.get("/settings/invitations/"))
    assert "Invitation sent to new.person@example.test." in body
    assert "new.person@example.test" in body and "Revoke" in body


def test_invite_errors_are_next_to_the_field_with_input_kept(tenant):
    client = signed_in(tenant)
    expected = api_error(tenant, "post", "/api/v1/invitations/", {"email": "not-an-email"})

    response = client.post("/settings/invitations/", {"email": "not-an-email", "role": "member"})

    assert response.status_code == 400
    body = html(response)
    assert field_errors(body, "email") == expected["fields"]["email"]
    assert 'value="not-an-email"' in body
    assert not Invitation.objects.filter(organization=tenant).exists()


def test_inviting_a_member_again_is_refused(tenant):
    client = signed_in(tenant)
    member = MembershipFactory(organization=tenant, role="member")

    response = client.post("/settings/invitations/", {"email": member.user.email, "role": "member"})

    assert response.status_code == 409
    assert field_errors(html(response), "email") == ["Already a member of this organization."]


def test_an_admin_cannot_invite_an_owner(tenant):
    client = signed_in(tenant, "admin")
    assert '<option value="owner"' not in html(client.get("/settings/invitations/"))

    response = client.post(
        "/settings/invitations/", {"email": "boss@example.test", "role": "owner"}
    )

    assert response.status_code == 403
    assert "Your role in this organization does not allow this." in html(response)
    assert not Invitation.objects.filter(organization=tenant).exists()


def test_resend_and_revoke(tenant, django_capture_on_commit_callbacks):
    client = signed_in(tenant)
    invitation, old_token = services.invitation_create(
        actor=client.membership, email="later@example.test"
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/settings/invitations/{invitation.pk}/resend/").status_code == 302
    assert len(mail.outbox) == 1
    invitation.refresh_from_db()
    assert invitation.token_hash != Invitation.hash_token(old_token)

    assert client.post(f"/settings/invitations/{invitation.pk}/revoke/").status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    listed = html(client.get("/settings/invitations/")).split("Pending invitations", 1)[1]
    assert "later@example.test" not in listed and "No invitation is pending." in listed

    again = client.post(f"/settings/invitations/{invitation.pk}/revoke/")
    assert again.status_code == 409
    assert '<p class="form-error" role="alert">This invitation is already revoked.</p>' in html(
        again
    )


# --- rates ------------------------------------------------------------------------------


def test_default_rate_saves_and_refuses_with_the_apis_message(tenant):
    client = signed_in(tenant)

    assert client.post("/settings/rates/", {"default_hourly_rate": "85.50"}).status_code == 302
    assert str(org_row(tenant)["default_hourly_rate"]) == "85.50"

    expected = api_error(tenant, "patch", "/api/v1/organization/", {"default_hourly_rate": "-1"})
    response = client.post("/settings/rates/", {"default_hourly_rate": "-1"})

    assert response.status_code == 400
    body = html(response)
    assert field_errors(body, "default_hourly_rate") == expected["fields"]["default_hourly_rate"]
    assert 'value="-1"' in body
    assert str(org_row(tenant)["default_hourly_rate"]) == "85.50"

    assert client.post("/settings/rates/", {"default_hourly_rate": ""}).status_code == 302
    assert org_row(tenant)["default_hourly_rate"] is None


def test_member_terms_save_and_refuse_next_to_the_field(tenant):
    client = signed_in(tenant)
    member = MembershipFactory(organization=tenant, role="member")

    response = client.post(
        f"/settings/rates/{member.pk}/", {"hourly_rate": "60", "weekly_expected_hours": "32"}
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert (str(member.hourly_rate), str(member.weekly_expected_hours)) == ("60.00", "32.00")

    response = client.post(
        f"/settings/rates/{member.pk}/", {"hourly_rate": "70", "weekly_expected_hours": "200"}
    )

    assert response.status_code == 400
    body = html(response)
    errors = re.search(rf'<ul class="field-errors" id="hours-{member.pk}-errors">(.*?)</ul>', body)
    assert errors and "Ensure this value is less than or equal to 168." in errors.group(1)
    assert f'id="rate-{member.pk}" name="hourly_rate" value="70"' in body
    member.refresh_from_db()
    assert str(member.hourly_rate) == "60.00"


def test_an_admin_cannot_set_an_owners_rate(tenant):
    owner = MembershipFactory(organization=tenant, role="owner")
    client = signed_in(tenant, "admin")

    response = client.post(f"/settings/rates/{owner.pk}/", {"hourly_rate": "1"})

    assert response.status_code == 403
    assert (
        '<ul class="field-errors" role="alert"><li>'
        "Your role in this organization does not allow this.</li></ul>"
    ) in html(response)
    owner.refresh_from_db()
    assert owner.hourly_rate is None


# --- billing and automation -------------------------------------------------------------


def test_billing_shows_plan_seats_and_state(tenant):
    make_subscription(tenant, "pro", seats=7)
    body = html(signed_in(tenant).get("/settings/billing/"))

    assert "<dd>Pro</dd>" in body and "<dd>7</dd>" in body
    assert ">Manage billing</button>" in body


def test_manage_billing_without_stripe_shows_the_services_message(tenant, settings):
    settings.STRIPE_SECRET_KEY = ""
    make_subscription(tenant, "pro", stripe_customer_id="cus_1")

    response = signed_in(tenant).post("/settings/billing/portal/")

    assert response.status_code == 503
    assert "Billing is not configured on this server" in html(response)


def test_manage_billing_before_any_checkout_is_explained(tenant, fake_stripe):  # noqa: F811
    make_subscription(tenant, "pro")

    response = signed_in(tenant).post("/settings/billing/portal/")

    assert response.status_code == 409
    assert "This organization has no billing account yet: choose a plan first." in html(response)
    assert fake_stripe.requests == []


def test_manage_billing_redirects_to_the_stripe_portal(tenant, fake_stripe):  # noqa: F811
    make_subscription(tenant, "pro", stripe_customer_id="cus_1")
    client = signed_in(tenant)
    csp = client.get("/settings/billing/")["Content-Security-Policy"]
    assert "https://billing.stripe.com" in next(
        d for d in csp.split(";") if d.strip().startswith("form-action")
    )

    response = client.post("/settings/billing/portal/")

    assert response.status_code == 302
    assert response["Location"].startswith("https://billing.stripe.com/p/session/")
    [call] = fake_stripe.requests
    assert call.params["customer"] == "cus_1"


def test_stripes_return_address_leads_to_the_billing_section(tenant):
    client = signed_in(tenant)

    response = client.get("/billing/", {"checkout": "success"})

    assert response.status_code == 302 and response["Location"] == "/settings/billing/"
    assert client.get(response["Location"]).status_code == 200


def test_automation_rules_are_listed_read_only(in_tenant):
    from apps.ai_services.tests.factories import RuleFactory

    RuleFactory(name="Friday reminder")
    body = html(signed_in(in_tenant).get("/settings/automation/"))

    assert '<th scope="row">Friday reminder</th>' in body
    assert "<form" not in body.split("Automation rules", 1)[1]


# --- query counts -----------------------------------------------------------------------


def _count(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(app_queries(captured))


@pytest.mark.parametrize(
    "path", ["/settings/", "/settings/members/", "/settings/rates/", "/settings/invitations/"]
)
def test_queries_are_few_and_flat_in_members_and_invitations(tenant, path):
    client = signed_in(tenant, "owner")

    def grow(n: int) -> None:
        for i in range(n):
            MembershipFactory(organization=tenant, role="member")
            services.invitation_create(actor=client.membership, email=f"p{n}-{i}@example.test")

    grow(2)
    small = _count(client, path)
    grow(27)
    large = _count(client, path)

    assert small == large <= 10, (small, large)


def test_billing_and_automation_queries_are_few(tenant):
    client = signed_in(tenant)
    assert _count(client, "/settings/billing/") <= 10
    assert _count(client, "/settings/automation/") <= 10
    assert _count(client, "/settings/time-tracking/") <= 10
