"""Staff two-factor enrolment: no takeover from a password alone.

The review's sequence: an operator bootstraps a staff account with a static
code; someone who knows only the password must not get an API token without
that code, nor enrol their own authenticator and then open the admin console.
Staff get a first device only through an operator's code
(``manage.py staff_two_factor_bootstrap``), which also revokes every token and
session obtained before. Real devices and codes, the whole middleware stack.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.testing import expect, next_totp_code
from apps.iam.models import AuthToken, User
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.two_factor import two_factor_enabled, two_factor_login_required
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
SETUP = "/api/v1/auth/2fa/setup/"
CONFIRM = "/api/v1/auth/2fa/confirm/"
ME = "/api/v1/auth/user/"
ADMIN_LOGIN = "/admin/login/"
ADMIN = "/admin/"


def staff_user(email: str = "ops@novatime.test") -> User:
    return User.objects.create_superuser(email, DEFAULT_PASSWORD)


def api_login(client: TenantAPIClient, email: str, otp: str | None = None) -> Any:
    data = {"email": email, "password": DEFAULT_PASSWORD}
    if otp is not None:
        data["otp"] = otp
    return client.post(LOGIN, data, format="json")


def token_client(key: str) -> TenantAPIClient:
    """A client that authenticates with the token only (no session cookie)."""
    client = TenantAPIClient(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue().strip()


def admin_login(email: str, code: str) -> Client:
    client = Client(HTTP_HOST="localhost")
    response = client.post(
        ADMIN_LOGIN,
        {"username": email, "password": DEFAULT_PASSWORD, "otp_token": code, "next": ADMIN},
    )
    assert response.status_code == 302, response.content
    return client


# --- the review's bypass --------------------------------------------------------------


@pytest.mark.parametrize("bootstrap", ["addstatictoken", "staff_two_factor_bootstrap"])
def test_a_password_alone_does_not_pass_an_operator_code(bootstrap):
    staff = staff_user()
    command(bootstrap, staff.email)  # a confirmed static device, no TOTP
    attacker = TenantAPIClient(None)

    response = api_login(attacker, staff.email)

    expect(response, 400, "otp_required")
    assert not AuthToken.objects.filter(user=staff).exists()
    assert "sessionid" not in response.cookies
    expect(attacker.post(SETUP), 401)  # nothing to enrol with
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert StaticToken.objects.filter(device__user=staff).count() == 1  # the code survives


def test_a_wrong_code_does_not_pass_an_operator_code_either():
    staff = staff_user()
    command("staff_two_factor_bootstrap", staff.email)

    expect(api_login(TenantAPIClient(None), staff.email, "notacode"), 400, "otp_invalid")


def test_staff_without_a_device_cannot_enrol_from_a_password_login():
    staff = staff_user()
    client = TenantAPIClient(None)
    key = expect(api_login(client, staff.email), 200)["key"]  # no device: password only
    api = token_client(key)

    setup = api.post(SETUP)
    pending = TOTPDevice.objects.create(user=staff, name="default", confirmed=False)
    confirm = api.post(CONFIRM, {"code": next_totp_code(pending)}, format="json")

    expect(setup, 403, "staff_enrolment_needs_operator_code")
    expect(confirm, 403, "staff_enrolment_needs_operator_code")
    pending.refresh_from_db()
    assert not pending.confirmed
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    # Hence no way into the console with a code of one's own.
    assert Client(HTTP_HOST="localhost").get(ADMIN).status_code == 302


def test_a_bootstrapped_staff_member_enrols_and_opens_the_console():
    staff = staff_user()
    code = command("staff_two_factor_bootstrap", staff.email)
    client = TenantAPIClient(None)

    key = expect(api_login(client, staff.email, code), 200)["key"]
    api = token_client(key)
    expect(api.post(SETUP), 200)
    device = TOTPDevice.objects.get(user=staff)
    backup_codes = expect(api.post(CONFIRM, {"code": next_totp_code(device)}, format="json"), 200)[
        "backup_codes"
    ]

    assert len(backup_codes) == 10
    assert not StaticToken.objects.filter(token=code).exists()  # operator code gone
    browser = admin_login(staff.email, next_totp_code(device))
    page = browser.get(ADMIN)
    assert page.status_code == 200 and b"Platform administration" in page.content


def test_members_still_enrol_from_a_password_login():
    """Non-staff keep self-service enrolment (no operator involved)."""
    member = UserFactory(email="member@example.com")
    client = TenantAPIClient(None)
    key = expect(api_login(client, member.email), 200)["key"]
    api = token_client(key)

    expect(api.post(SETUP), 200)
    device = TOTPDevice.objects.get(user=member)
    expect(api.post(CONFIRM, {"code": next_totp_code(device)}, format="json"), 200)

    assert two_factor_enabled(user=member)


# --- the bootstrap command ------------------------------------------------------------


def test_bootstrap_revokes_earlier_tokens_and_sessions():
    staff = staff_user()
    old_key = expect(api_login(TenantAPIClient(None), staff.email), 200)["key"]
    expect(token_client(old_key).get(ME), 200)
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(staff)
    other = staff_user("other@novatime.test")
    other_key = expect(api_login(TenantAPIClient(None), other.email), 200)["key"]

    command("staff_two_factor_bootstrap", staff.email)

    expect(token_client(old_key).get(ME), 401)
    expect(token_client(old_key).post(SETUP), 401)  # cannot enrol with the device now there
    assert not AuthToken.objects.filter(user=staff).exists()
    assert "_auth_user_id" not in browser.session
    expect(token_client(other_key).get(ME), 200)  # other accounts untouched


def test_bootstrap_adds_one_code_to_the_existing_backup_codes():
    staff = staff_user()
    device = StaticDevice.objects.create(user=staff, name="backup", confirmed=True)
    device.token_set.create(token="keepme12")

    code = command("staff_two_factor_bootstrap", staff.email)

    assert list(StaticDevice.objects.filter(user=staff)) == [device]
    assert sorted(t.token for t in device.token_set.all()) == sorted(["keepme12", code])


def test_bootstrap_reset_removes_every_device():
    staff = staff_user()
    TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    StaticDevice.objects.create(user=staff, name="backup", confirmed=True).token_set.create(
        token="oldcode1"
    )

    code = command("staff_two_factor_bootstrap", staff.email, "--reset")

    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert [t.token for t in StaticToken.objects.filter(device__user=staff)] == [code]


def test_bootstrap_refuses_non_staff_and_unknown_accounts():
    member = UserFactory(email="member@example.com")
    key = expect(api_login(TenantAPIClient(None), member.email), 200)["key"]

    with pytest.raises(CommandError, match="not staff"):
        command("staff_two_factor_bootstrap", member.email)
    with pytest.raises(CommandError, match="does not exist"):
        command("staff_two_factor_bootstrap", "nobody@example.com")

    assert not StaticDevice.objects.exists()
    expect(token_client(key).get(ME), 200)


# --- selectors ------------------------------------------------------------------------


def test_any_confirmed_device_requires_a_code_but_only_totp_counts_as_enabled():
    user = UserFactory(email="member@example.com")
    assert not two_factor_login_required(user=user)

    StaticDevice.objects.create(user=user, name="backup", confirmed=False)
    assert not two_factor_login_required(user=user)

    StaticDevice.objects.filter(user=user).update(confirmed=True)
    assert two_factor_login_required(user=user)
    assert not two_factor_enabled(user=user)


# --- the admin login form ---------------------------------------------------------------


@pytest.mark.parametrize(
    "posted", ["iam.user/1", "iam.user/x", "otp_totp.totpdevice/999999", "nonsense", "a.b.c/1"]
)
def test_a_crafted_otp_device_is_an_invalid_code_not_a_500(posted):
    staff = staff_user()
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)

    response = client.post(
        ADMIN_LOGIN,
        {
            "username": staff.email,
            "password": DEFAULT_PASSWORD,
            "otp_device": posted,
            "otp_token": "12345678",  # digits, but too long for the authenticator
        },
    )

    assert response.status_code == 200
    assert [str(e) for e in response.context["form"].non_field_errors()] == [
        "The two-factor code is not valid."
    ]
    assert client.get(ADMIN).status_code == 302
    device.refresh_from_db()
    assert device.last_t == -1


def test_a_posted_otp_device_does_not_override_the_codes_shape():
    staff = staff_user()
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    static = StaticDevice.objects.create(user=staff, name="backup", confirmed=True)

    response = Client(HTTP_HOST="localhost").post(
        ADMIN_LOGIN,
        {
            "username": staff.email,
            "password": DEFAULT_PASSWORD,
            "otp_device": static.persistent_id,
            "otp_token": next_totp_code(device),
            "next": ADMIN,
        },
    )

    assert response.status_code == 302
