"""Two-factor authentication: setup and confirmation, login with a code, backup
codes, disabling, and organizations that require it.

Codes are computed from the device's secret as an authenticator app would.
django-otp refuses a TOTP code at or before the last accepted time step, so
every use takes the *next* acceptable step (``next_code``, from
apps.common.testing) instead of sleeping.
"""

from __future__ import annotations

from base64 import b32decode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.testing import app_queries, expect
from apps.common.testing import next_totp_code as next_code
from apps.common.testing import wrong_totp_code as wrong_code
from apps.iam.models import AuthToken, User
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.two_factor import two_factor_enabled, two_factor_verify
from apps.organizations.models import Organization
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

STATUS = "/api/v1/auth/2fa/"
SETUP = "/api/v1/auth/2fa/setup/"
CONFIRM = "/api/v1/auth/2fa/confirm/"
DISABLE = "/api/v1/auth/2fa/disable/"


# --- helpers ---------------------------------------------------------------------


def client_for(user: User) -> TenantAPIClient:
    client = TenantAPIClient(None)
    client.force_authenticate(user)
    return client


def login(client: TenantAPIClient, otp: str | None = None, password: str = DEFAULT_PASSWORD):
    data = {"email": "ada@example.com", "password": password}
    if otp is not None:
        data["otp"] = otp
    return client.post("/api/v1/auth/login/", data, format="json")


def enable_two_factor(user: User) -> tuple[TOTPDevice, list[str]]:
    """Turn two-factor on through the API, with the code an authenticator app
    would show for the returned secret."""
    client = client_for(user)
    secret = client.post(SETUP).json()["secret"]
    response = client.post(CONFIRM, {"code": f"{totp(b32decode(secret)):06d}"}, format="json")
    assert response.status_code == 200, response.json()
    return TOTPDevice.objects.get(user=user), response.json()["backup_codes"]


# --- setup and confirmation ----------------------------------------------------


def test_setup_returns_the_secret_of_an_unconfirmed_device(public_client):
    user = UserFactory(email="ada@example.com")
    public_client.force_authenticate(user)

    response = public_client.post(SETUP)

    expect(response, 200)
    body = response.json()
    device = TOTPDevice.objects.get(user=user)
    assert (device.name, device.confirmed) == ("default", False)
    assert b32decode(body["secret"]) == device.bin_key
    assert body == {
        "secret": body["secret"],
        "otpauth_url": (
            f"otpauth://totp/NovaTime%3Aada%40example.com?secret={body['secret']}"
            "&algorithm=SHA1&digits=6&period=30&issuer=NovaTime"
        ),
    }
    assert public_client.get(STATUS).json() == {"enabled": False}


def test_setup_again_replaces_the_pending_device(public_client):
    user = UserFactory()
    public_client.force_authenticate(user)
    first = public_client.post(SETUP).json()["secret"]

    second = public_client.post(SETUP).json()["secret"]

    assert first != second
    assert [b32decode(second)] == [d.bin_key for d in TOTPDevice.objects.filter(user=user)]


def test_confirm_with_a_code_from_the_secret_enables_and_returns_backup_codes(public_client):
    user = UserFactory()
    public_client.force_authenticate(user)
    secret = public_client.post(SETUP).json()["secret"]

    response = public_client.post(
        CONFIRM, {"code": f"{totp(b32decode(secret)):06d}"}, format="json"
    )

    expect(response, 200)
    codes = response.json()["backup_codes"]
    assert list(response.json()) == ["backup_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert TOTPDevice.objects.get(user=user).confirmed is True
    backup = StaticDevice.objects.get(user=user)
    assert (backup.name, backup.confirmed) == ("backup", True)
    assert sorted(StaticToken.objects.filter(device=backup).values_list("token", flat=True)) == (
        sorted(codes)
    )
    assert public_client.get(STATUS).json() == {"enabled": True}
    assert two_factor_enabled(user=user) is True


def test_confirm_with_a_bad_code_keeps_two_factor_off(public_client):
    user = UserFactory()
    public_client.force_authenticate(user)
    public_client.post(SETUP)
    device = TOTPDevice.objects.get(user=user)

    response = public_client.post(CONFIRM, {"code": wrong_code(device)}, format="json")

    expect(response, 400, "otp_invalid")
    device.refresh_from_db()
    assert device.confirmed is False
    assert device.throttling_failure_count == 1  # django-otp's throttling counted it
    assert not StaticDevice.objects.filter(user=user).exists()
    assert public_client.get(STATUS).json() == {"enabled": False}


def test_confirm_without_setup_is_400_not_set_up(public_client):
    user = UserFactory()
    public_client.force_authenticate(user)

    response = public_client.post(CONFIRM, {"code": "123456"}, format="json")

    expect(response, 400, "two_factor_not_set_up")
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()


def test_setup_and_confirm_are_409_once_enabled(public_client):
    user = UserFactory()
    device, codes = enable_two_factor(user)
    public_client.force_authenticate(user)
    key = device.key

    expect(public_client.post(SETUP), 409, "two_factor_already_enabled")
    expect(
        public_client.post(CONFIRM, {"code": next_code(device)}, format="json"),
        409,
        "two_factor_already_enabled",
    )

    assert list(TOTPDevice.objects.filter(user=user).values_list("key", "confirmed")) == [
        (key, True)
    ]
    assert StaticToken.objects.filter(device__user=user).count() == len(codes)


@pytest.mark.parametrize(
    ("method", "path"), [("get", STATUS), ("post", SETUP), ("post", CONFIRM), ("post", DISABLE)]
)
def test_two_factor_endpoints_need_authentication(public_client, method, path):
    expect(getattr(public_client, method)(path), 401, "not_authenticated")
    assert not TOTPDevice.objects.exists()


# --- login ---------------------------------------------------------------------


def test_login_without_otp_is_400_otp_required_and_creates_nothing(public_client, settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 1, "IP_FAILURES": 100, "SECONDS": 600}
    user = UserFactory(email="ada@example.com")
    device, _ = enable_two_factor(user)

    response = login(public_client)

    expect(response, 400, "otp_required")
    assert response.json()["fields"] == {"otp": ["Enter the code from your authenticator app."]}
    assert "sessionid" not in response.cookies
    assert not AuthToken.objects.filter(user=user).exists()
    # Asking for the second factor is not a failed login: with a limit of one
    # failure, the next attempt would otherwise be locked.
    expect(login(public_client, otp=next_code(device)), 200)


def test_login_with_a_wrong_password_does_not_reveal_two_factor(public_client):
    user = UserFactory(email="ada@example.com")
    enable_two_factor(user)

    response = login(public_client, password="wrong")

    expect(response, 400, "invalid")
    assert not AuthToken.objects.filter(user=user).exists()


def test_login_with_a_wrong_otp_is_400_and_counts_towards_the_lockout(public_client, settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 2, "IP_FAILURES": 100, "SECONDS": 600}
    user = UserFactory(email="ada@example.com")
    device, _ = enable_two_factor(user)

    first = login(public_client, otp=wrong_code(device))
    second = login(public_client, otp=wrong_code(device))
    locked = login(public_client, otp=next_code(device))  # even the right code

    expect(first, 400, "otp_invalid")
    assert first.json()["fields"] == {"otp": ["The code is not valid."]}
    expect(second, 400, "otp_invalid")
    expect(locked, 429, "login_locked")
    assert "sessionid" not in first.cookies
    assert not AuthToken.objects.filter(user=user).exists()


def test_login_with_the_right_otp_returns_a_token_and_a_verified_session(public_client):
    user = UserFactory(email="ada@example.com")
    device, _ = enable_two_factor(user)

    response = login(public_client, otp=next_code(device))

    expect(response, 200)
    assert AuthToken.objects.filter(user=user).count() == 1
    assert list(response.json()) == ["key"]
    assert public_client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_a_totp_code_cannot_be_replayed(public_client):
    user = UserFactory(email="ada@example.com")
    device, _ = enable_two_factor(user)
    code = next_code(device)
    expect(login(public_client, otp=code), 200)

    replay = login(TenantAPIClient(None), otp=code)

    expect(replay, 400, "otp_invalid")
    assert AuthToken.objects.filter(user=user).count() == 1


def test_a_backup_code_logs_in_once_only(public_client):
    user = UserFactory(email="ada@example.com")
    _, codes = enable_two_factor(user)

    first = login(public_client, otp=f" {codes[0].upper()} ")  # as people type it
    again = login(TenantAPIClient(None), otp=codes[0])

    expect(first, 200)
    expect(again, 400, "otp_invalid")
    assert AuthToken.objects.filter(user=user).count() == 1
    assert sorted(
        StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
    ) == (sorted(codes[1:]))


def test_login_without_two_factor_ignores_otp(public_client):
    user = UserFactory(email="ada@example.com")

    expect(login(public_client, otp="123456"), 200)
    assert AuthToken.objects.filter(user=user).count() == 1


# --- verification (service) -----------------------------------------------------


def test_verify_is_throttled_after_a_failure(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # 60 s after one failure: no timing race
    user = UserFactory()
    device, _ = enable_two_factor(user)

    assert two_factor_verify(user=user, code=wrong_code(device)) is False
    assert two_factor_verify(user=user, code=next_code(device)) is False  # right, but too soon

    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    device.throttle_reset()
    assert two_factor_verify(user=user, code=next_code(device)) is True


def test_verify_without_two_factor_is_false():
    user = UserFactory()
    assert two_factor_verify(user=user, code="123456") is False
    assert two_factor_verify(user=user, code="") is False


# --- disabling -----------------------------------------------------------------


def test_disable_requires_a_valid_code(public_client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the right code follows a wrong one at once
    user = UserFactory(email="ada@example.com")
    device, _ = enable_two_factor(user)
    public_client.force_authenticate(user)

    missing = public_client.post(DISABLE, {}, format="json")
    wrong = public_client.post(DISABLE, {"code": wrong_code(device)}, format="json")

    expect(missing, 400, "invalid")
    assert list(missing.json()["fields"]) == ["code"]
    expect(wrong, 400, "otp_invalid")
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert StaticToken.objects.filter(device__user=user).count() == 10

    response = public_client.post(DISABLE, {"code": next_code(device)}, format="json")

    expect(response, 204)
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert public_client.get(STATUS).json() == {"enabled": False}
    public_client.force_authenticate(None)
    expect(login(public_client), 200)


def test_disable_with_a_backup_code(public_client):
    user = UserFactory()
    _, codes = enable_two_factor(user)
    public_client.force_authenticate(user)

    expect(public_client.post(DISABLE, {"code": codes[3]}, format="json"), 204)
    assert two_factor_enabled(user=user) is False
    assert not StaticToken.objects.filter(device__user=user).exists()


def test_disable_when_not_enabled_is_400_not_set_up(public_client):
    user = UserFactory()
    public_client.force_authenticate(user)
    public_client.post(SETUP)  # pending, not enabled

    response = public_client.post(DISABLE, {"code": "123456"}, format="json")

    expect(response, 400, "two_factor_not_set_up")
    assert TOTPDevice.objects.filter(user=user, confirmed=False).count() == 1


# --- organizations that require two-factor ---------------------------------------


def _require_two_factor(tenant: Organization, required: bool = True) -> None:
    Organization.objects.filter(pk=tenant.pk).update(require_two_factor=required)


@pytest.mark.parametrize(
    ("required", "device", "status", "code"),
    [
        (True, None, 403, "two_factor_required"),
        (True, "pending", 403, "two_factor_required"),
        (True, "confirmed", 200, None),
        (False, None, 200, None),
    ],
)
def test_organization_requiring_two_factor(tenant, required, device, status, code):
    _require_two_factor(tenant, required)
    user = UserFactory()
    MembershipFactory(user=user, organization=tenant)
    if device is not None:
        TOTPDevice.objects.create(user=user, name="default", confirmed=device == "confirmed")
    client = TenantAPIClient(tenant)
    client.force_authenticate(user)

    response = client.get("/api/v1/organization/")

    expect(response, status, code)
    if status == 200:
        assert response.json()["slug"] == "acme"


def test_admin_without_two_factor_cannot_change_settings_when_required(tenant):
    _require_two_factor(tenant)
    user = UserFactory()
    MembershipFactory(user=user, organization=tenant, role="admin")
    client = TenantAPIClient(tenant)
    client.force_authenticate(user)
    name = Organization.objects.get(pk=tenant.pk).name

    response = client.patch("/api/v1/organization/", {"name": "Hacked"}, format="json")

    expect(response, 403, "two_factor_required")
    assert Organization.objects.get(pk=tenant.pk).name == name


def test_outsider_is_still_not_a_member_when_two_factor_is_required(tenant):
    _require_two_factor(tenant)
    client = TenantAPIClient(tenant)
    client.force_authenticate(UserFactory())

    expect(client.get("/api/v1/organization/"), 403, "not_a_member")


def test_the_requirement_costs_one_query_only_when_enabled(tenant):
    user = UserFactory()
    MembershipFactory(user=user, organization=tenant)
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    client = TenantAPIClient(tenant)
    client.force_authenticate(user)
    expect(client.get("/api/v1/organization/"), 200)  # warm the tenant cache

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            expect(client.get("/api/v1/organization/"), 200)
        return len(app_queries(captured))

    without = queries()
    _require_two_factor(tenant)
    with_requirement = queries()

    assert with_requirement == without + 1
