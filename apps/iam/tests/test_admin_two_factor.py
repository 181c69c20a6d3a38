"""Two-factor for the platform admin console (``/admin/`` on the public host).

With ``NOVATIME_ADMIN_REQUIRE_OTP`` on (test settings, as in production) staff
get in only with a session verified by one of their confirmed OTP devices: the
admin login form asks for email, password and code. Real django-otp devices,
codes computed from the device key as an authenticator app would
(``next_totp_code``), Django's test client through the whole middleware stack.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.testing import (
    expect,
    next_totp_code,
    otp_force_login,
    totp_device,
    wrong_totp_code,
)
from apps.iam import lockout
from apps.iam.models import User
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.organizations.constants import OrganizationStatus
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
INDEX = "/admin/"
ORG_CHANGELIST = reverse(
    "admin:organizations_organization_changelist", urlconf="config.urls_public"
)
WELCOME = b"Platform administration"  # the index page's title


def browser() -> Client:
    return Client(HTTP_HOST="localhost")


def staff_user(email: str = "root@novatime.test") -> User:
    return User.objects.create_superuser(email, DEFAULT_PASSWORD)


def submit_login(
    client: Client, email: str, code: str | None = None, password: str = DEFAULT_PASSWORD
) -> Any:
    data = {"username": email, "password": password, "next": INDEX}
    if code is not None:
        data["otp_token"] = code
    return client.post(LOGIN, data)


def errors_of(response: Any) -> list[str]:
    assert response.status_code == 200, "expected the login page again"
    return [str(e) for e in response.context["form"].non_field_errors()]


def admitted(client: Client) -> bool:
    """Whether the client's session opens the console (else: sent to the login)."""
    response = client.get(INDEX)
    if response.status_code == 302:
        assert response["Location"] == f"{LOGIN}?next={INDEX}"
        return False
    assert response.status_code == 200 and WELCOME in response.content
    return True


# --- without a verified session: no console ------------------------------------------


def test_staff_signed_in_by_password_only_is_sent_to_the_login_page(tenant):
    staff = staff_user()
    totp_device(staff)  # enrolled, but this session was never verified
    client = browser()
    client.force_login(staff)

    listing = client.get(ORG_CHANGELIST)
    action = client.post(
        ORG_CHANGELIST,
        {"action": "suspend_organizations", "_selected_action": [str(tenant.pk)]},
    )

    assert listing.status_code == 302
    assert listing["Location"] == f"{LOGIN}?next={ORG_CHANGELIST}"
    assert action.status_code == 302
    assert action["Location"] == f"{LOGIN}?next={ORG_CHANGELIST}"
    assert not admitted(client)
    tenant.refresh_from_db()
    assert tenant.status == OrganizationStatus.ACTIVE
    assert LogEntry.objects.count() == 0
    # The login page says why instead of "not authorized".
    page = client.get(LOGIN)
    assert b"not verified with" in page.content
    assert b'name="otp_token"' in page.content


def test_a_verified_session_opens_the_console():
    staff = staff_user()
    client = browser()

    otp_force_login(client, staff)

    assert admitted(client)


# --- the login form ------------------------------------------------------------------


def test_the_login_page_asks_for_the_code():
    page = browser().get(LOGIN)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert 'name="otp_token"' in html and 'autocomplete="one-time-code"' in html
    assert "otp_challenge" not in html and "otp_device" not in html


def test_password_without_a_code_is_refused():
    staff = staff_user()
    totp_device(staff)
    client = browser()

    response = submit_login(client, staff.email)

    assert errors_of(response) == ["Enter the code from your authenticator app (or a backup code)."]
    assert DEFAULT_PASSWORD not in response.content.decode()  # never echoed back
    assert not admitted(client)
    assert lockout.locked_for(email=staff.email) == 0


def test_a_wrong_code_is_refused_and_counts_towards_the_lockout(settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {**settings.NOVATIME_LOGIN_LOCKOUT, "ACCOUNT_FAILURES": 1}
    staff = staff_user()
    device = totp_device(staff)
    client = browser()

    response = submit_login(client, staff.email, wrong_totp_code(device))

    assert errors_of(response) == ["The two-factor code is not valid."]
    assert not admitted(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp's throttling too
    assert lockout.locked_for(email=staff.email) > 0


def test_a_valid_totp_code_logs_in_and_the_pages_load(tenant):
    staff = staff_user()
    device = totp_device(staff)
    client = browser()

    response = submit_login(client, staff.email, next_totp_code(device))

    assert response.status_code == 302 and response["Location"] == INDEX
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert admitted(client)
    listing = client.get(ORG_CHANGELIST)
    assert listing.status_code == 200
    assert "acme" in [o.slug for o in listing.context["cl"].result_list]


def test_a_code_cannot_be_used_twice():
    staff = staff_user()
    device = totp_device(staff)
    code = next_totp_code(device)
    assert submit_login(browser(), staff.email, code).status_code == 302

    second = browser()
    response = submit_login(second, staff.email, code)

    assert errors_of(response) == ["The two-factor code is not valid."]
    assert not admitted(second)


def test_codes_are_accepted_as_people_type_them():
    staff = staff_user()
    device = totp_device(staff)
    code = next_totp_code(device)
    client = browser()

    response = submit_login(client, staff.email, f" {code[:3]} {code[3:]} ")

    assert response.status_code == 302
    assert admitted(client)


def test_a_backup_code_logs_in_once(public_client):
    staff = staff_user()
    # Turned on through the API after an operator's code (staff cannot enrol
    # from a password alone); confirm returns backup codes.
    bootstrap(staff.email)
    public_client.force_authenticate(staff)
    code = totp_device_from_setup(public_client, staff)
    backup = expect(
        public_client.post("/api/v1/auth/2fa/confirm/", {"code": code}, format="json"), 200
    )["backup_codes"][0]
    client = browser()

    response = submit_login(client, staff.email, backup.upper())

    assert response.status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY].startswith("otp_static.")
    assert admitted(client)
    assert errors_of(submit_login(browser(), staff.email, backup)) == [
        "The two-factor code is not valid."
    ]


def totp_device_from_setup(client: TenantAPIClient, user: User) -> str:
    """Start the API setup and return the code the new device shows now."""
    expect(client.post("/api/v1/auth/2fa/setup/"), 200)
    return next_totp_code(TOTPDevice.objects.get(user=user))


def test_staff_without_any_device_are_sent_to_an_operator():
    staff = staff_user()
    client = browser()

    response = submit_login(client, staff.email, "123456")

    [error] = errors_of(response)
    assert "requires two-factor authentication" in error
    assert "manage.py staff_two_factor_bootstrap" in error
    # Self-enrolment from a password alone is refused for staff: not advertised.
    assert "/api/v1/auth/2fa/setup/" not in error and "addstatictoken" not in error
    assert not admitted(client)


def test_a_pending_setup_is_no_second_factor():
    staff = staff_user()
    pending = TOTPDevice.objects.create(user=staff, name="default", confirmed=False)
    client = browser()

    only_pending = submit_login(client, staff.email, next_totp_code(pending))
    assert "requires two-factor authentication" in errors_of(only_pending)[0]

    # With a confirmed device next to it, choosing the pending one does not help.
    StaticDevice.objects.create(user=staff, name="backup", confirmed=True)

    response = client.post(
        LOGIN,
        {
            "username": staff.email,
            "password": DEFAULT_PASSWORD,
            "otp_device": pending.persistent_id,
            "otp_token": next_totp_code(pending),
        },
    )

    assert errors_of(response) == ["The two-factor code is not valid."]
    assert not admitted(client)


def test_a_wrong_password_with_a_valid_code_is_refused():
    staff = staff_user()
    device = totp_device(staff)
    client = browser()

    response = submit_login(client, staff.email, next_totp_code(device), password="nope-nope-1")

    assert errors_of(response)[0].startswith("Please enter the correct email and password")
    assert not admitted(client)
    device.refresh_from_db()
    assert device.last_t == -1  # the code was never checked, so not spent


def test_a_locked_account_is_refused_even_with_password_and_code(settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {**settings.NOVATIME_LOGIN_LOCKOUT, "ACCOUNT_FAILURES": 3}
    staff = staff_user()
    device = totp_device(staff)
    for _ in range(3):
        submit_login(browser(), staff.email, password="wrong-password-1")
    client = browser()

    response = submit_login(client, staff.email, next_totp_code(device))

    assert errors_of(response)[0].startswith("Please enter the correct email and password")
    assert not admitted(client)


def test_a_non_staff_user_with_a_device_is_refused():
    member = UserFactory(email="member@example.com")
    device = totp_device(member)
    client = browser()

    response = submit_login(client, member.email, next_totp_code(device))

    assert errors_of(response)[0].startswith("Please enter the correct email and password")
    assert not admitted(client)


# --- one person's verification is not another's --------------------------------------


def test_another_users_device_in_the_session_does_not_verify(tenant):
    alice, bob = staff_user("alice@novatime.test"), staff_user("bob@novatime.test")
    alice_device = totp_device(alice)
    totp_device(bob)
    alices_browser = browser()
    assert (
        submit_login(alices_browser, alice.email, next_totp_code(alice_device)).status_code == 302
    )
    bobs_browser = browser()
    bobs_browser.force_login(bob)
    session = bobs_browser.session
    session[DEVICE_ID_SESSION_KEY] = alices_browser.session[DEVICE_ID_SESSION_KEY]
    session.save()

    assert admitted(alices_browser)
    assert not admitted(bobs_browser)
    assert DEVICE_ID_SESSION_KEY not in bobs_browser.session  # dropped by the middleware


def test_signing_in_as_someone_else_drops_the_verification():
    alice, bob = staff_user("alice@novatime.test"), staff_user("bob@novatime.test")
    client = browser()
    otp_force_login(client, alice)
    assert admitted(client)

    client.force_login(bob)  # same browser, another account, no code

    assert not admitted(client)


def test_another_users_device_cannot_be_chosen_on_the_login_form():
    alice, bob = staff_user("alice@novatime.test"), staff_user("bob@novatime.test")
    alice_device = totp_device(alice)
    bob_device = totp_device(bob)
    client = browser()

    response = client.post(
        LOGIN,
        {
            "username": bob.email,
            "password": DEFAULT_PASSWORD,
            "otp_device": alice_device.persistent_id,
            "otp_token": next_totp_code(alice_device),
        },
    )

    # Alice's device is ignored; the code goes to Bob's, which refuses it.
    assert errors_of(response) == ["The two-factor code is not valid."]
    assert not admitted(client)
    bob_device.refresh_from_db()
    assert bob_device.throttling_failure_count == 1


# --- other ways in -----------------------------------------------------------------


def test_the_api_login_with_a_code_verifies_the_session_for_the_console():
    staff = staff_user()
    device = totp_device(staff)
    api = TenantAPIClient(None)

    expect(
        api.post(
            "/api/v1/auth/login/",
            {"email": staff.email, "password": DEFAULT_PASSWORD, "otp": next_totp_code(device)},
            format="json",
        ),
        200,
    )

    assert api.get(INDEX).status_code == 200


def add_static_token(email: str) -> str:
    """``manage.py addstatictoken <email>`` (django-otp's otp_static command)."""
    out = io.StringIO()
    call_command("addstatictoken", email, stdout=out)
    return out.getvalue().strip()


def bootstrap(email: str, *args: str) -> str:
    """``manage.py staff_two_factor_bootstrap <email>`` (apps/iam/management)."""
    out = io.StringIO()
    call_command("staff_two_factor_bootstrap", email, *args, stdout=out)
    return out.getvalue().strip()


def test_staff_two_factor_bootstrap_issues_a_first_staff_accounts_code():
    staff = staff_user("first@novatime.test")

    token = bootstrap("First@NovaTime.test")  # any case, like the login

    [device] = StaticDevice.objects.filter(user=staff)
    assert device.confirmed
    assert [t.token for t in device.token_set.all()] == [token]  # one code only
    client = browser()
    assert submit_login(client, staff.email, token).status_code == 302
    assert admitted(client)
    assert not StaticToken.objects.filter(token=token).exists()  # single use
    assert errors_of(submit_login(browser(), staff.email, token)) == [
        "The two-factor code is not valid."
    ]


def test_addstatictoken_still_logs_a_staff_account_in():
    """django-otp's command still works (it does not revoke tokens: docs)."""
    staff = staff_user("first@novatime.test")

    token = add_static_token("First@NovaTime.test")

    client = browser()
    assert submit_login(client, staff.email, token).status_code == 302
    assert admitted(client)


def test_enrolling_through_the_api_replaces_the_bootstrap_code(public_client):
    staff = staff_user()
    code = bootstrap(staff.email)
    public_client.force_authenticate(staff)

    totp_code = totp_device_from_setup(public_client, staff)
    expect(public_client.post("/api/v1/auth/2fa/confirm/", {"code": totp_code}, format="json"), 200)

    assert [d.name for d in StaticDevice.objects.filter(user=staff)] == ["backup"]
    assert not StaticToken.objects.filter(token=code).exists()


def test_a_staff_member_who_lost_every_code_recovers_with_a_reset_code():
    """deploy/README.md: ``staff_two_factor_bootstrap --reset``, log in, enrol again."""
    staff = staff_user()
    lost = totp_device(staff)
    code = bootstrap(staff.email, "--reset")
    assert not TOTPDevice.objects.filter(pk=lost.pk).exists()
    api = TenantAPIClient(None)

    expect(
        api.post(
            "/api/v1/auth/login/",
            {"email": staff.email, "password": DEFAULT_PASSWORD, "otp": code},
            format="json",
        ),
        200,
    )
    totp_code = totp_device_from_setup(api, staff)
    expect(api.post("/api/v1/auth/2fa/confirm/", {"code": totp_code}, format="json"), 200)

    client = browser()
    device = TOTPDevice.objects.get(user=staff, confirmed=True)
    assert submit_login(client, staff.email, next_totp_code(device)).status_code == 302
    assert admitted(client)


def test_the_device_admin_never_shows_a_secret():
    staff = staff_user()
    device = totp_device(staff)
    client = browser()
    otp_force_login(client, staff)

    page = client.get(
        reverse("admin:otp_totp_totpdevice_change", args=[device.pk], urlconf="config.urls_public")
    )

    assert page.status_code == 200
    assert device.key not in page.content.decode()


# --- the setting off ---------------------------------------------------------------


@override_settings(NOVATIME_ADMIN_REQUIRE_OTP=False)
def test_with_the_setting_off_the_password_alone_logs_in():
    staff = staff_user()  # no device at all
    client = browser()

    page = client.get(LOGIN)
    response = submit_login(client, staff.email)

    assert b'name="otp_token"' not in page.content
    assert response.status_code == 302 and response["Location"] == INDEX
    assert admitted(client)


@override_settings(NOVATIME_ADMIN_REQUIRE_OTP=False)
def test_with_the_setting_off_a_password_session_opens_the_console():
    client = browser()
    client.force_login(staff_user())

    assert admitted(client)


def test_the_setting_is_read_per_request():
    client = browser()
    client.force_login(staff_user())

    assert not admitted(client)
    with override_settings(NOVATIME_ADMIN_REQUIRE_OTP=False):
        assert admitted(client)
    assert not admitted(client)
