"""Accepting an invitation on the public host (``/invitations/<token>/``, issue
#20): the organization and role shown, a new account or the existing one, the
hand-off to the organization's host signed in, and clear pages for tokens
that cannot be used (the API accept's service, messages and throttle)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from apps.common.testing import totp_device
from apps.iam.models import User
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from apps.organizations import services
from apps.organizations.models import Invitation, InvitationStatus, Membership
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Correct horse 42 battery"


def browser(tenant=None, **kw) -> TenantAPIClient:
    return TenantAPIClient(tenant, HTTP_ACCEPT="text/html", **kw)


@pytest.fixture
def invite(tenant):
    """``invite(email, role)`` → the raw token of a new invitation into acme."""
    admin = MembershipFactory(organization=tenant, role="owner")

    def make(email: str = "newbie@example.test", role: str = "manager") -> str:
        return services.invitation_create(actor=admin, email=email, role=role)[1]

    return make


def _hand_off(tenant, response) -> TenantAPIClient:
    """Follow the single-use link to the organization's host: signed in there."""
    match = re.fullmatch(r"http://acme\.localhost:8000/signin/link/([\w-]+)/", response["Location"])
    assert match, response["Location"]
    org_client = browser(tenant)
    landed = org_client.get(f"/signin/link/{match.group(1)}/")
    assert landed.status_code == 302 and landed["Location"] == "/"
    assert org_client.session[SESSION_ORGANIZATION_KEY] == str(tenant.pk)
    return org_client


def test_the_page_shows_the_organization_role_and_the_locked_email(invite):
    token = invite()

    response = browser().get(f"/invitations/{token}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Join Acme" in body and "as Manager" in body
    assert re.search(
        r'<input type="email" name="email" value="newbie@example.test"[^>]*disabled', body
    )
    assert '<label for="id_password">Password</label>' in body
    assert ">Create account and join</button>" in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_a_new_account_accepts_and_lands_signed_in_on_the_organization(tenant, invite):
    token = invite()

    response = browser().post(
        f"/invitations/{token}/",
        {"first_name": "Nia", "last_name": "Newbie", "password": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="newbie@example.test")
    assert user.check_password(NEW_PASSWORD) and user.first_name == "Nia"
    membership = Membership.objects.get(user=user, organization=tenant)
    assert membership.role == "manager"
    assert Invitation.objects.get(organization=tenant).status == InvitationStatus.ACCEPTED
    page = _hand_off(tenant, response).get("/")
    assert page.status_code == 200 and b"Start timer" in page.content


def test_a_weak_password_is_refused_next_to_the_field_with_the_names_kept(tenant, invite):
    token = invite()

    response = browser().post(
        f"/invitations/{token}/", {"first_name": "Nia", "last_name": "", "password": "123"}
    )

    assert response.status_code == 400
    body = response.content.decode()
    errors = re.search(r'<ul class="field-errors" id="id_password-errors">(.*?)</ul>', body, re.S)
    assert errors and "This password is too short." in errors.group(1)
    assert 'value="Nia"' in body
    assert not User.objects.filter(email="newbie@example.test").exists()
    assert Invitation.objects.get(organization=tenant).status == InvitationStatus.PENDING


def test_an_existing_account_signs_in_and_accepts(tenant, other_tenant, invite):
    user = UserFactory(email="known@example.test")
    MembershipFactory(organization=other_tenant, user=user, role="member")
    token = invite("known@example.test", "member")

    page = browser().get(f"/invitations/{token}/").content.decode()
    assert ">Sign in and join</button>" in page and "id_first_name" not in page

    wrong = browser().post(f"/invitations/{token}/", {"password": "not it"})
    assert wrong.status_code == 400
    assert "The email or password is not correct." in wrong.content.decode()
    assert not Membership.objects.filter(user=user, organization=tenant).exists()

    response = browser().post(f"/invitations/{token}/", {"password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert Membership.objects.get(user=user, organization=tenant).role == "member"
    assert _hand_off(tenant, response).get("/").status_code == 200


def test_an_account_with_two_factor_is_asked_for_its_code(tenant, invite):
    user = UserFactory(email="careful@example.test")
    totp_device(user)
    token = invite("careful@example.test", "member")
    assert (
        '<label for="id_code">Code</label>'
        in browser().get(f"/invitations/{token}/").content.decode()
    )

    response = browser().post(f"/invitations/{token}/", {"password": DEFAULT_PASSWORD, "code": ""})

    assert response.status_code == 400
    assert "Enter the code from your authenticator app." in response.content.decode()
    assert not Membership.objects.filter(user=user, organization=tenant).exists()


def test_someone_who_joined_meanwhile_is_told_so(tenant, invite):
    user = UserFactory(email="joined@example.test")
    token = invite("joined@example.test", "admin")
    MembershipFactory(organization=tenant, user=user, role="member")  # joined another way

    response = browser().post(f"/invitations/{token}/", {"password": DEFAULT_PASSWORD})

    assert response.status_code == 409
    assert "You are already a member of this organization." in response.content.decode()
    assert Membership.objects.get(user=user, organization=tenant).role == "member"


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unknown", 404, "This invitation link is not valid: it may have been used or revoked."),
        ("used", 404, "This invitation link is not valid: it may have been used or revoked."),
        ("revoked", 404, "This invitation link is not valid: it may have been used or revoked."),
        ("expired", 410, "This invitation has expired: ask an administrator to send a new one."),
    ],
)
def test_tokens_that_cannot_be_used_get_a_clear_page(tenant, invite, case, status, message):
    token = "x" * 43 if case == "unknown" else invite()
    invitation = Invitation.objects.filter(organization=tenant).first()
    if case == "used":
        invitation.status = InvitationStatus.ACCEPTED
        invitation.accepted_at = timezone.now()
    elif case == "revoked":
        invitation.status = InvitationStatus.REVOKED
    elif case == "expired":
        invitation.expires_at = timezone.now() - datetime.timedelta(minutes=1)
    if invitation is not None:
        invitation.save()

    for method in ("get", "post"):
        response = getattr(browser(), method)(f"/invitations/{token}/", {"password": NEW_PASSWORD})
        assert response.status_code == status
        assert response["Content-Type"].startswith("text/html")
        assert message in response.content.decode()
    assert not User.objects.filter(email="newbie@example.test").exists()


def test_a_token_accepts_once(tenant, invite):
    token = invite()
    first = browser().post(f"/invitations/{token}/", {"password": NEW_PASSWORD})
    assert first.status_code == 302

    again = browser().post(f"/invitations/{token}/", {"password": NEW_PASSWORD})

    assert again.status_code == 404
    assert (
        Membership.objects.filter(organization=tenant, user__email="newbie@example.test").count()
        == 1
    )


def test_the_page_is_not_served_on_an_organization_host(tenant, invite):
    token = invite()
    assert browser(tenant).get(f"/invitations/{token}/").status_code == 404


def test_accepting_needs_the_csrf_token(tenant, invite):
    token = invite()

    response = browser(enforce_csrf_checks=True).post(
        f"/invitations/{token}/", {"password": NEW_PASSWORD}
    )

    assert response.status_code == 403
    assert not User.objects.filter(email="newbie@example.test").exists()


def test_accepting_shares_the_api_accept_throttle(tenant, invite, public_client, monkeypatch):
    from apps.common.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"invitation_accept": "2/hour"})
    for _ in range(2):
        public_client.post("/api/v1/invitations/accept/", {"token": "nope"}, format="json")
    token = invite()

    response = browser().post(f"/invitations/{token}/", {"password": NEW_PASSWORD})

    assert response.status_code == 429
    assert not User.objects.filter(email="newbie@example.test").exists()


def test_the_page_allows_its_form_to_hand_off_to_organization_hosts(invite):
    csp = browser().get(f"/invitations/{invite()}/")["Content-Security-Policy"]

    form_action = next(d for d in csp.split(";") if d.strip().startswith("form-action"))
    assert form_action.split()[1:] == ["'self'", "http://*.localhost:8000"]
