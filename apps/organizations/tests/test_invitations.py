"""Invitations: manage them on the organization host (admin+), accept them on the
public host (logged-in invitee or new account). RBAC matrix, the emailed
single-use hashed token, expiry, resend/revoke, and tenant isolation."""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterator
from smtplib import SMTPException
from typing import Any
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.iam.models import AuthToken, User
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.tokens import hash_key
from apps.organizations import services
from apps.organizations.models import Invitation, Membership
from apps.organizations.signals import membership_changed
from apps.organizations.tests.factories import MembershipFactory, client_as
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/invitations/"
ACCEPT_URL = "/api/v1/invitations/accept/"
NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
NEW_PASSWORD = "plum tree 42 lantern"
INVALID_MESSAGE = "This invitation link is not valid: it may have been used or revoked."
LINK = re.compile(r"http://localhost:8000/invitations/([A-Za-z0-9_-]+)/")

DENIED = [
    (None, 401, "not_authenticated"),
    ("outsider", 403, "not_a_member"),
    ("viewer", 403, "role_required"),
    ("member", 403, "role_required"),
    ("manager", 403, "role_required"),
]


@pytest.fixture
def frozen_now() -> Iterator[datetime.datetime]:
    """``timezone.now()`` returns ``NOW`` (defaults bound at import time, like
    ``created_at``, keep the real clock)."""
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        yield NOW


def invite(
    tenant: Any, email: str = "new.person@example.com", role: str = "member", by: str = "admin"
) -> tuple[Invitation, str]:
    """An invitation made through the service (its email is not sent: no commit)."""
    actor = MembershipFactory(organization=tenant, role=by)
    return services.invitation_create(actor=actor, email=email, role=role)


def snapshot() -> dict[str, Any]:
    """Everything an invitation request could change."""
    return {
        "invitations": list(
            Invitation.objects.order_by("id").values_list(
                "id", "status", "role", "token_hash", "expires_at", "invited_by"
            )
        ),
        "memberships": list(
            Membership.objects.order_by("id").values_list("id", "role", "status", "user")
        ),
        "users": list(User.objects.order_by("id").values_list("id", flat=True)),
        "email_addresses": EmailAddress.objects.count(),
    }


def expect(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code


def token_in(message: Any) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --- create ----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status", "code"), DENIED)
def test_create_is_refused_below_admin_and_changes_nothing(
    tenant, mailoutbox, commit, role, status, code
):
    client = client_as(tenant, role)
    before = snapshot()

    with commit():
        response = client.post(LIST_URL, {"email": "new@example.com"}, format="json")

    expect(response, status, code)
    assert snapshot() == before
    assert mailoutbox == []


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_create_by_admin_or_owner_answers_201_with_the_invitation(
    tenant, mailoutbox, commit, frozen_now, role
):
    inviter = MembershipFactory(
        organization=tenant, role=role, user__email="ada@acme.test", user__first_name="Ada"
    ).user
    client = TenantAPIClient(tenant)
    client.force_authenticate(inviter)

    with commit():
        response = client.post(
            LIST_URL, {"email": "New.Person@Example.com", "role": "manager"}, format="json"
        )

    expect(response, 201)
    invitation = Invitation.objects.get()
    assert response.json() == {
        "id": str(invitation.id),
        "email": "new.person@example.com",
        "role": "manager",
        "status": "pending",
        "expires_at": "2026-01-08T12:00:00Z",
        "invited_by": {
            "id": str(inviter.id),
            "email": "ada@acme.test",
            "first_name": "Ada",
            "last_name": inviter.last_name,
        },
        "created_at": invitation.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert (invitation.organization_id, invitation.invited_by_id) == (tenant.id, inviter.id)
    assert invitation.expires_at == NOW + datetime.timedelta(days=7)
    assert len(mailoutbox) == 1


def test_create_sends_one_email_with_text_and_html_parts_and_the_accept_link(
    tenant, mailoutbox, commit, frozen_now
):
    inviter = MembershipFactory(
        organization=tenant,
        role="admin",
        user__email="ada@acme.test",
        user__first_name="Ada",
        user__last_name="Admin",
    ).user
    client = TenantAPIClient(tenant)
    client.force_authenticate(inviter)

    with commit():
        client.post(LIST_URL, {"email": "new.person@example.com", "role": "member"}, format="json")

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["new.person@example.com"]
    assert message.subject == "[NovaTime] Ada Admin invited you to join Acme"
    token = token_in(message)
    link = f"http://localhost:8000/invitations/{token}/"
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    for part in (message.body, html):
        assert link in part
        assert "Acme" in part
        assert "Ada Admin" in part
        assert "8 January 2026, 12:00 UTC" in part
    assert f'href="{link}"' in html
    assert Invitation.objects.get().token_hash == sha256(token)


def test_a_mail_server_failure_does_not_fail_the_request(tenant, commit):
    client = client_as(tenant, "admin")

    with (
        mock.patch(
            "django.core.mail.EmailMultiAlternatives.send", side_effect=SMTPException("down")
        ),
        commit(),
    ):
        response = client.post(LIST_URL, {"email": "new@example.com"}, format="json")

    expect(response, 201)
    assert Invitation.objects.get().status == "pending"  # the admin can resend it


def test_the_row_stores_only_the_hash_of_the_token(tenant):
    invitation, raw_token = invite(tenant)

    row = Invitation.objects.filter(pk=invitation.pk).values().get()

    assert row["token_hash"] == sha256(raw_token)
    assert [k for k, v in row.items() if raw_token in str(v)] == []


def test_the_expiry_follows_the_ttl_setting(tenant, settings, frozen_now):
    settings.NOVATIME_INVITATION_TTL_DAYS = 2

    invitation, _ = invite(tenant)

    assert invitation.expires_at == NOW + datetime.timedelta(days=2)


def test_inviting_an_active_member_is_409_already_member(tenant, mailoutbox, commit):
    MembershipFactory(organization=tenant, role="viewer", user__email="bob@example.com")
    client = client_as(tenant, "admin")
    before = snapshot()

    with commit():
        response = client.post(LIST_URL, {"email": "BOB@example.com"}, format="json")

    expect(response, 409, "already_member")
    assert response.json()["fields"] == {"email": ["Already a member of this organization."]}
    assert snapshot() == before
    assert mailoutbox == []


def test_a_member_of_another_organization_can_be_invited(tenant, other_tenant):
    MembershipFactory(organization=other_tenant, user__email="bob@example.com")

    invitation, _ = invite(tenant, email="bob@example.com")

    assert (invitation.organization_id, invitation.email) == (tenant.id, "bob@example.com")


def test_an_admin_inviting_an_owner_is_403_role_required(tenant, mailoutbox, commit):
    client = client_as(tenant, "admin")
    before = snapshot()

    with commit():
        response = client.post(
            LIST_URL, {"email": "boss@example.com", "role": "owner"}, format="json"
        )

    expect(response, 403, "role_required")
    assert response.json()["permission"] == "owners.manage"
    assert snapshot() == before
    assert mailoutbox == []


def test_an_owner_may_invite_an_owner(tenant):
    response = client_as(tenant, "owner").post(
        LIST_URL, {"email": "boss@example.com", "role": "owner"}, format="json"
    )

    expect(response, 201)
    assert Invitation.objects.get().role == "owner"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({}, "email"),
        ({"email": "a@example.com", "role": "emperor"}, "role"),
    ],
)
def test_bad_input_is_400_naming_the_field(tenant, payload, field):
    client = client_as(tenant, "admin")
    before = snapshot()

    response = client.post(LIST_URL, payload, format="json")

    expect(response, 400, "invalid")
    assert list(response.json()["fields"]) == [field]
    assert snapshot() == before


def test_the_role_defaults_to_member(tenant):
    response = client_as(tenant, "admin").post(LIST_URL, {"email": "a@example.com"}, format="json")

    expect(response, 201)
    assert response.json()["role"] == "member"


def test_inviting_a_pending_address_again_reissues_the_same_row(tenant, mailoutbox, commit):
    client = client_as(tenant, "admin")
    with commit():
        first = client.post(LIST_URL, {"email": "new@example.com"}, format="json")
    with commit():
        second = client.post(
            LIST_URL, {"email": "NEW@example.com", "role": "viewer"}, format="json"
        )

    expect(second, 201)
    assert second.json()["id"] == first.json()["id"]
    assert Invitation.objects.values_list("email", "role", "status").get() == (
        "new@example.com",
        "viewer",
        "pending",
    )
    old_token, new_token = token_in(mailoutbox[0]), token_in(mailoutbox[1])
    assert len(mailoutbox) == 2 and old_token != new_token
    assert Invitation.objects.get().token_hash == sha256(new_token)


def test_an_admin_cannot_reissue_a_pending_owner_invitation(tenant):
    invite(tenant, email="boss@example.com", role="owner", by="owner")
    client = client_as(tenant, "admin")
    before = snapshot()

    response = client.post(LIST_URL, {"email": "boss@example.com"}, format="json")

    expect(response, 403, "role_required")
    assert response.json()["permission"] == "owners.manage"
    assert snapshot() == before


def test_a_deactivated_member_can_be_invited_again(tenant):
    MembershipFactory(organization=tenant, status="deactivated", user__email="gone@example.com")

    response = client_as(tenant, "admin").post(
        LIST_URL, {"email": "gone@example.com"}, format="json"
    )

    expect(response, 201)


def test_the_pending_invitation_per_email_is_unique_in_the_database(tenant):
    invitation, _ = invite(tenant, email="dup@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(
            organization=tenant, email="DUP@example.com", token_hash=sha256("other")
        )
    Invitation.objects.filter(pk=invitation.pk).update(status="revoked")
    again = Invitation.objects.create(
        organization=tenant, email="dup@example.com", token_hash=sha256("other")
    )
    assert again.status == "pending"


# --- list ------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status", "code"), DENIED)
def test_list_is_refused_below_admin(tenant, role, status, code):
    invite(tenant)

    response = client_as(tenant, role).get(LIST_URL)

    expect(response, status, code)


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_list_shows_this_organizations_pending_invitations_expired_included(
    tenant, other_tenant, role
):
    pending, _ = invite(tenant, email="pending@example.com")
    expired, _ = invite(tenant, email="expired@example.com", role="viewer")
    Invitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    revoked, _ = invite(tenant, email="revoked@example.com")
    Invitation.objects.filter(pk=revoked.pk).update(status="revoked")
    accepted, _ = invite(tenant, email="accepted@example.com")
    Invitation.objects.filter(pk=accepted.pk).update(status="accepted", accepted_at=NOW)
    invite(other_tenant, email="globex@example.com")

    response = client_as(tenant, role).get(LIST_URL)

    expect(response, 200)
    body = response.json()
    assert body["count"] == 2
    assert [(r["id"], r["email"], r["role"], r["status"]) for r in body["results"]] == [
        (str(expired.id), "expired@example.com", "viewer", "expired"),
        (str(pending.id), "pending@example.com", "member", "pending"),
    ]


# --- revoke ----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status", "code"), DENIED)
def test_revoke_is_refused_below_admin_and_changes_nothing(tenant, role, status, code):
    invitation, _ = invite(tenant)
    client = client_as(tenant, role)
    before = snapshot()

    response = client.delete(f"{LIST_URL}{invitation.id}/")

    expect(response, status, code)
    assert snapshot() == before


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_revoke_by_admin_or_owner_is_204_and_kills_the_link(tenant, public_client, role):
    invitation, raw_token = invite(tenant)

    response = client_as(tenant, role).delete(f"{LIST_URL}{invitation.id}/")

    expect(response, 204)
    assert Invitation.objects.get(pk=invitation.pk).status == "revoked"
    accept = public_client.post(
        ACCEPT_URL, {"token": raw_token, "password": NEW_PASSWORD}, format="json"
    )
    expect(accept, 400, "invitation_invalid")
    assert accept.json()["message"] == INVALID_MESSAGE
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_revoking_twice_is_409(tenant):
    invitation, _ = invite(tenant)
    client = client_as(tenant, "admin")
    client.delete(f"{LIST_URL}{invitation.id}/")

    response = client.delete(f"{LIST_URL}{invitation.id}/")

    expect(response, 409, "invitation_not_pending")


def test_an_admin_cannot_revoke_an_owner_invitation(tenant):
    invitation, _ = invite(tenant, role="owner", by="owner")
    client = client_as(tenant, "admin")
    before = snapshot()

    response = client.delete(f"{LIST_URL}{invitation.id}/")

    expect(response, 403, "role_required")
    assert response.json()["permission"] == "owners.manage"
    assert snapshot() == before


def test_another_organizations_invitation_is_unknown_on_this_host(
    tenant, other_tenant, mailoutbox, commit
):
    invitation, _ = invite(tenant)
    globex_admin = client_as(other_tenant, "admin")
    before = snapshot()

    with commit():
        revoke = globex_admin.delete(f"{LIST_URL}{invitation.id}/")
        resend = globex_admin.post(f"{LIST_URL}{invitation.id}/resend/")

    expect(revoke, 404, "not_found")
    expect(resend, 404, "not_found")
    assert snapshot() == before
    assert mailoutbox == []


def test_an_unknown_id_is_404(tenant):
    response = client_as(tenant, "admin").delete(f"{LIST_URL}not-a-uuid/")

    expect(response, 404, "not_found")


# --- resend ----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status", "code"), DENIED)
def test_resend_is_refused_below_admin_and_changes_nothing(
    tenant, mailoutbox, commit, role, status, code
):
    invitation, _ = invite(tenant)
    client = client_as(tenant, role)
    before = snapshot()

    with commit():
        response = client.post(f"{LIST_URL}{invitation.id}/resend/")

    expect(response, status, code)
    assert snapshot() == before
    assert mailoutbox == []


def test_resend_emails_a_new_token_with_a_new_expiry_and_kills_the_old_one(
    tenant, public_client, mailoutbox, commit
):
    invitation, old_token = invite(tenant)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - datetime.timedelta(days=1)
    )

    with mock.patch("django.utils.timezone.now", return_value=NOW), commit():
        response = client_as(tenant, "admin").post(f"{LIST_URL}{invitation.id}/resend/")

    expect(response, 200)
    assert (response.json()["id"], response.json()["expires_at"]) == (
        str(invitation.id),
        "2026-01-08T12:00:00Z",
    )
    assert len(mailoutbox) == 1
    new_token = token_in(mailoutbox[0])
    assert new_token != old_token
    stale = public_client.post(
        ACCEPT_URL, {"token": old_token, "password": NEW_PASSWORD}, format="json"
    )
    expect(stale, 400, "invitation_invalid")
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        fresh = public_client.post(
            ACCEPT_URL, {"token": new_token, "password": NEW_PASSWORD}, format="json"
        )
    expect(fresh, 200)


def test_resending_an_accepted_invitation_is_409(tenant):
    invitation, _ = invite(tenant)
    Invitation.objects.filter(pk=invitation.pk).update(status="accepted", accepted_at=NOW)

    response = client_as(tenant, "admin").post(f"{LIST_URL}{invitation.id}/resend/")

    expect(response, 409, "invitation_not_pending")


def test_an_email_is_not_sent_for_a_token_reissued_before_commit(tenant, mailoutbox, commit):
    actor = MembershipFactory(organization=tenant, role="admin")

    with commit():
        invitation, _ = services.invitation_create(actor=actor, email="x@example.com")
        _, second = services.invitation_resend(actor=actor, invitation=invitation)

    assert [token_in(m) for m in mailoutbox] == [second]


# --- accept ----------------------------------------------------------------------


def test_a_new_user_accepts_and_gets_an_account_a_membership_and_a_working_token(
    tenant, public_client, commit
):
    invitation, raw_token = invite(tenant, role="manager")
    events: list[dict[str, Any]] = []
    receiver = lambda sender, **kwargs: events.append(kwargs)  # noqa: E731
    membership_changed.connect(receiver)

    try:
        with commit():
            response = public_client.post(
                ACCEPT_URL,
                {
                    "token": raw_token,
                    "password": NEW_PASSWORD,
                    "first_name": "Nina",
                    "last_name": "New",
                },
                format="json",
            )
    finally:
        membership_changed.disconnect(receiver)

    expect(response, 200)
    user = User.objects.get(email="new.person@example.com")
    membership = Membership.objects.get(user=user, organization=tenant)
    body = response.json()
    assert body == {
        "organization": {
            "id": str(tenant.id),
            "name": "Acme",
            "slug": "acme",
            "url": "http://acme.localhost:8000/",
            "status": "active",
        },
        "role": "manager",
        "membership_id": str(membership.id),
        "token": body["token"],
    }
    assert (user.first_name, user.last_name) == ("Nina", "New")
    assert user.check_password(NEW_PASSWORD)
    assert (membership.role, membership.status) == ("manager", "active")
    assert list(
        EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")
    ) == [("new.person@example.com", True, True)]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.accepted_by_id) == ("accepted", user.id)
    assert invitation.accepted_at is not None
    assert AuthToken.objects.get(user=user).key_hash == hash_key(body["token"])
    assert events == [
        {
            "signal": membership_changed,
            "organization_id": tenant.id,
            "user_id": user.id,
            "action": "added",
        }
    ]
    me = TenantAPIClient(None)
    me.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    profile = me.get("/api/v1/auth/user/")
    expect(profile, 200)
    assert profile.json()["email"] == "new.person@example.com"


def test_a_logged_in_user_with_the_invited_email_accepts(tenant, public_client):
    invitation, raw_token = invite(tenant, email="Bob@Example.com", role="viewer")
    bob = UserFactory(email="bob@example.com")
    public_client.force_authenticate(bob)

    response = public_client.post(ACCEPT_URL, {"token": raw_token}, format="json")

    expect(response, 200)
    membership = Membership.objects.get(user=bob, organization=tenant)
    assert response.json() == {
        "organization": {
            "id": str(tenant.id),
            "name": "Acme",
            "slug": "acme",
            "url": "http://acme.localhost:8000/",
            "status": "active",
        },
        "role": "viewer",
        "membership_id": str(membership.id),
    }
    assert Invitation.objects.get(pk=invitation.pk).accepted_by_id == bob.id
    assert AuthToken.objects.filter(user=bob).count() == 0
    assert bob.check_password(DEFAULT_PASSWORD)  # untouched


def test_a_logged_in_user_with_another_email_is_400_mismatch(tenant, public_client):
    _, raw_token = invite(tenant, email="bob@example.com")
    public_client.force_authenticate(UserFactory(email="mallory@example.com"))
    before = snapshot()

    response = public_client.post(ACCEPT_URL, {"token": raw_token}, format="json")

    expect(response, 400, "invitation_email_mismatch")
    assert snapshot() == before


def test_a_second_accept_is_400_invalid_like_an_unknown_token(tenant, public_client):
    _, raw_token = invite(tenant)
    first = public_client.post(
        ACCEPT_URL, {"token": raw_token, "password": NEW_PASSWORD}, format="json"
    )
    expect(first, 200)
    before = snapshot()

    second = public_client.post(
        ACCEPT_URL, {"token": raw_token, "password": NEW_PASSWORD}, format="json"
    )
    unknown = public_client.post(
        ACCEPT_URL, {"token": "no-such-token", "password": NEW_PASSWORD}, format="json"
    )

    expect(second, 400, "invitation_invalid")
    expect(unknown, 400, "invitation_invalid")
    assert (
        second.json()
        == unknown.json()
        == {"code": "invitation_invalid", "message": INVALID_MESSAGE}
    )
    assert snapshot() == before


def test_accept_locks_the_invitation_row_so_the_token_is_single_use(tenant):
    """Two racing accepts serialize on this row lock; the loser then reads the
    committed ``accepted`` status and gets ``invitation_invalid`` (shown
    sequentially in the test above)."""
    _, raw_token = invite(tenant)

    with CaptureQueriesContext(connection) as queries:
        services.invitation_accept(raw_token=raw_token, password=NEW_PASSWORD)

    locking = [q["sql"] for q in queries if 'FOR UPDATE OF "organizations_invitation"' in q["sql"]]
    assert len(locking) == 1
    assert '"organizations_invitation"."token_hash" = ' in locking[0]


def test_an_expired_invitation_is_400_expired(tenant, public_client):
    invitation, raw_token = invite(tenant)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    before = snapshot()

    response = public_client.post(
        ACCEPT_URL, {"token": raw_token, "password": NEW_PASSWORD}, format="json"
    )

    expect(response, 400, "invitation_expired")
    assert snapshot() == before


def test_a_new_user_without_a_password_is_400_and_nothing_is_created(tenant, public_client):
    _, raw_token = invite(tenant)
    before = snapshot()

    response = public_client.post(ACCEPT_URL, {"token": raw_token}, format="json")

    expect(response, 400, "invalid")
    assert response.json()["fields"] == {"password": ["This field is required."]}
    assert snapshot() == before


def test_a_weak_password_is_400_and_nothing_is_created(tenant, public_client):
    _, raw_token = invite(tenant)
    before = snapshot()

    response = public_client.post(
        ACCEPT_URL, {"token": raw_token, "password": "12345678"}, format="json"
    )

    expect(response, 400, "invalid")
    assert list(response.json()["fields"]) == ["password"]
    assert snapshot() == before


def test_an_anonymous_accept_for_an_existing_account_must_log_in(tenant, public_client):
    _, raw_token = invite(tenant, email="bob@example.com")
    UserFactory(email="bob@example.com")
    before = snapshot()

    response = public_client.post(
        ACCEPT_URL, {"token": raw_token, "password": NEW_PASSWORD}, format="json"
    )

    expect(response, 400, "email_taken")
    assert snapshot() == before


def test_accept_when_already_an_active_member_is_409_and_keeps_the_role(tenant, public_client):
    _, raw_token = invite(tenant, email="bob@example.com", role="admin")
    bob = MembershipFactory(organization=tenant, role="viewer", user__email="bob@example.com").user
    public_client.force_authenticate(bob)
    before = snapshot()

    response = public_client.post(ACCEPT_URL, {"token": raw_token}, format="json")

    expect(response, 409, "already_member")
    assert snapshot() == before


def test_accept_reactivates_a_deactivated_membership_with_the_invited_role(tenant, public_client):
    old = MembershipFactory(
        organization=tenant, role="viewer", status="deactivated", user__email="bob@example.com"
    )
    _, raw_token = invite(tenant, email="bob@example.com", role="member")
    public_client.force_authenticate(old.user)

    response = public_client.post(ACCEPT_URL, {"token": raw_token}, format="json")

    expect(response, 200)
    assert response.json()["membership_id"] == str(old.id)
    assert Membership.objects.filter(user=old.user).values_list("role", "status").get() == (
        "member",
        "active",
    )


def test_accept_is_not_served_on_an_organization_host(tenant):
    _, raw_token = invite(tenant)

    response = client_as(tenant, "member").post(ACCEPT_URL, {"token": raw_token}, format="json")

    expect(response, 404, "not_found")


def test_the_emailed_link_hands_the_token_to_the_client_app(public_client):
    response = public_client.get(ACCEPT_URL, {"token": "abc_DEF-123"})

    expect(response, 200)
    assert response.json() == {"token": "abc_DEF-123"}


# --- model -----------------------------------------------------------------------


def test_str_and_derived_expired_status(tenant):
    invitation, _ = invite(tenant, email="new@example.com", role="viewer")
    assert str(invitation) == "new@example.com → Acme (viewer, pending)"

    invitation.expires_at = timezone.now() - datetime.timedelta(seconds=1)

    assert (invitation.status, invitation.effective_status) == ("pending", "expired")
    assert str(invitation) == "new@example.com → Acme (viewer, expired)"
