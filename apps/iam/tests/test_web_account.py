"""``/account/`` of an organization host: the profile (name, language, time
zone) saved as the API saves it, the page then in that language and time
zone, the password change, two-factor enrolment with a QR code and its
removal, errors next to the fields with the input kept, query counts."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.testing import app_queries, next_totp_code, wrong_totp_code
from apps.iam.models import AuthToken, User
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.iam.tokens import token_create
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.tests.factories import ProjectFactory
from apps.time_entries.tests.factories import TimeEntryFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)
NEW_PASSWORD = "a-Much-longer-passphrase-42"
DASH = "\u2013"  # between an entry's start and end


def signed_in(tenant, membership=None) -> TenantAPIClient:
    membership = membership or MembershipFactory(organization=tenant, role="member")
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    client.membership = membership
    return client


def _field(page: str, name: str) -> str:
    """The ``<input>`` (or ``<select>``) tag of field ``name``."""
    match = re.search(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', page)
    assert match, f"no field {name}"
    return match.group(0)


# --- who may open it ------------------------------------------------------------------


def test_anonymous_is_sent_to_signin(tenant):
    response = TenantAPIClient(tenant, HTTP_ACCEPT="text/html").get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/signin/?next=%2Faccount%2F"


def test_member_of_another_organization_is_refused(in_tenant, other_tenant):
    membership = MembershipFactory(organization=other_tenant)
    client = TenantAPIClient(in_tenant, HTTP_ACCEPT="text/html")
    client.force_login(membership.user)
    response = client.get("/account/")
    assert response.status_code == 302  # not signed in on this host


# --- the page ----------------------------------------------------------------------------


def test_page_shows_the_users_settings(in_tenant):
    client = signed_in(in_tenant)
    user = client.membership.user
    User.objects.filter(pk=user.pk).update(
        first_name="Ada", timezone="Europe/Berlin", language="en"
    )

    response = client.get("/account/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Account</h1>" in page and user.email in page
    assert 'value="Ada"' in _field(page, "first_name")
    assert 'value="Europe/Berlin"' in _field(page, "timezone")
    assert '<option value="en" selected>English</option>' in page
    assert '<option value="de">Deutsch</option>' in page
    assert '<option value="Pacific/Auckland">' in page  # the time zone suggestions
    assert ">Set up two-factor authentication</button>" in page


def test_page_queries_stay_few(in_tenant):
    client = signed_in(in_tenant)
    client.get("/account/")  # warm caches (tenant, content types)
    with CaptureQueriesContext(connection) as plain:
        assert client.get("/account/").status_code == 200
    client.post("/account/two-factor/setup/")
    with CaptureQueriesContext(connection) as enrolling:
        assert client.get("/account/").status_code == 200
    assert len(app_queries(plain)) <= 10
    assert len(app_queries(enrolling)) <= 10


# --- profile: name, language, time zone ----------------------------------------------------


def test_profile_saves_through_the_apis_rules(in_tenant):
    client = signed_in(in_tenant)
    user = client.membership.user

    response = client.post(
        "/account/profile/",
        {"first_name": "Grace", "last_name": "Hopper", "language": "de", "timezone": "Asia/Tokyo"},
    )

    assert response.status_code == 302 and response["Location"] == "/account/"
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.language, user.timezone) == (
        "Grace",
        "Hopper",
        "de",
        "Asia/Tokyo",
    )
    # The API's user endpoint reads the same field.
    api = client.get("/api/v1/auth/user/", HTTP_ACCEPT="application/json").json()
    assert api["language"] == "de" and api["timezone"] == "Asia/Tokyo"


def test_profile_errors_are_next_to_the_field_and_input_is_kept(in_tenant):
    client = signed_in(in_tenant)
    user = client.membership.user
    before = (user.first_name, user.timezone, user.language)

    response = client.post(
        "/account/profile/",
        {"first_name": "Grace", "last_name": "", "language": "xx", "timezone": "Mars/Olympus"},
    )

    page = response.content.decode()
    assert response.status_code == 400
    tz_errors = re.search(r'id="id_timezone-errors">(.*?)</ul>', page, re.S)
    assert tz_errors and "Unknown time zone: &#x27;Mars/Olympus&#x27;." in tz_errors.group(1)
    lang_errors = re.search(r'id="id_language-errors">(.*?)</ul>', page, re.S)
    assert lang_errors and "is not a valid choice" in lang_errors.group(1)
    assert 'value="Grace"' in _field(page, "first_name")
    assert 'value="Mars/Olympus"' in _field(page, "timezone")
    user.refresh_from_db()
    assert (user.first_name, user.timezone, user.language) == before


def test_language_switch_changes_the_pages_language(in_tenant):
    client = signed_in(in_tenant)

    before = client.get("/").content.decode()
    client.post("/account/profile/", {"language": "de", "timezone": "UTC"})
    after = client.get("/").content.decode()
    account = client.get("/account/").content.decode()

    assert '<html lang="en">' in before and "<h1>Time</h1>" in before
    assert '<html lang="de">' in after and "<h1>Zeit</h1>" in after
    assert ">Abmelden</button>" in after
    assert "<h1>Konto</h1>" in account
    assert "Ihr Profil wurde gespeichert." in account  # the flash, in the new language
    # Back to the browser's language: Accept-Language decides again.
    client.post("/account/profile/", {"language": "", "timezone": "UTC"})
    assert "<h1>Zeit</h1>" in client.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<h1>Time</h1>" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


@time_machine.travel(NOW, tick=False)
def test_time_zone_changes_the_displayed_times(in_tenant):
    client = signed_in(in_tenant)
    user = client.membership.user
    TimeEntryFactory(
        user_id=user.pk,
        project=ProjectFactory(),
        description="Standup",
        started_at=NOW - datetime.timedelta(hours=2),
        ended_at=NOW - datetime.timedelta(hours=1),
    )

    utc = client.get("/").content.decode()
    client.post("/account/profile/", {"language": "", "timezone": "America/New_York"})
    new_york = client.get("/").content.decode()

    assert f"13:00{DASH}14:00" in utc
    assert f"08:00{DASH}09:00" in new_york and f"13:00{DASH}14:00" not in new_york
    # The API keeps UTC whatever the user's zone (its offsets are pinned).
    api = client.get("/api/v1/time-entries/", HTTP_ACCEPT="application/json").json()
    assert api["results"][0]["started_at"].startswith("2026-11-26T13:00:00")


def test_the_users_zone_and_language_do_not_outlive_the_request(in_tenant):
    """The middleware activates them per request and deactivates the zone
    afterwards: the next request on this thread (here: the test's) starts
    from the defaults."""
    from django.utils import timezone

    client = signed_in(in_tenant)
    User.objects.filter(pk=client.membership.user_id).update(timezone="Asia/Tokyo", language="de")

    page = client.get("/account/").content.decode()

    assert "Zeiten werden in Asia/Tokyo angezeigt." in page
    assert timezone.get_current_timezone_name() == "UTC"
    anonymous = TenantAPIClient(in_tenant, HTTP_ACCEPT="text/html").get("/signin/")
    assert '<html lang="en">' in anonymous.content.decode()


# --- password -------------------------------------------------------------------------------


def test_password_change_keeps_the_session_and_revokes_tokens(in_tenant):
    client = signed_in(in_tenant)
    user = client.membership.user
    token_create(user=user, name="cli")

    response = client.post(
        "/account/password/",
        {
            "current_password": DEFAULT_PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302 and response["Location"] == "/account/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    page = client.get("/account/")
    assert page.status_code == 200  # still signed in (update_session_auth_hash)
    assert "Your password has been changed." in page.content.decode()
    assert not AuthToken.objects.filter(user=user).exists()  # as the API's password change


@pytest.mark.parametrize(
    ("current", "new", "again", "field", "message"),
    [
        ("wrong", NEW_PASSWORD, NEW_PASSWORD, "current_password", "entered incorrectly"),
        (DEFAULT_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "new_password_again", "match"),
        (DEFAULT_PASSWORD, "12345678", "12345678", "new_password_again", "too common"),
    ],
)
def test_password_change_refused(in_tenant, current, new, again, field, message):
    client = signed_in(in_tenant)
    user = client.membership.user

    response = client.post(
        "/account/password/",
        {"current_password": current, "new_password": new, "new_password_again": again},
    )

    page = response.content.decode()
    assert response.status_code == 400
    errors = re.search(rf'id="id_{field}-errors">(.*?)</ul>', page, re.S)
    assert errors and message in errors.group(1)
    assert NEW_PASSWORD not in page  # passwords are never written back
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


# --- two-factor -------------------------------------------------------------------------------


def _unthrottle(device: TOTPDevice) -> None:
    """Forget a failed try: django-otp refuses even a right code for a
    moment after one (the wait is django-otp's, not this page's)."""
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )


def test_two_factor_enrol_confirm_and_disable(in_tenant):
    client = signed_in(in_tenant)
    user = client.membership.user

    started = client.post("/account/two-factor/setup/")
    assert started.status_code == 302
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    page = client.get("/account/").content.decode()
    assert re.search(r'<svg role="img" class="qr-code"[^>]*><title>QR code for your', page)
    secret = re.search(r'<code class="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    assert len(secret) >= 16

    wrong = client.post("/account/two-factor/confirm/", {"code": wrong_totp_code(device)})
    assert wrong.status_code == 400
    errors = re.search(r'id="id_code-errors">(.*?)</ul>', wrong.content.decode(), re.S)
    assert errors and "The code is not valid." in errors.group(1)
    assert 'value="' in _field(wrong.content.decode(), "code")  # the code typed is kept
    _unthrottle(device)  # django-otp delays the next try after a failure

    confirmed = client.post("/account/two-factor/confirm/", {"code": next_totp_code(device)})
    page = confirmed.content.decode()
    assert confirmed.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.values_list("token", flat=True))
    assert "Status: <strong>On</strong>" in page

    refused = client.post("/account/two-factor/disable/", {"code": "000000x"})
    assert refused.status_code == 400 and TOTPDevice.objects.filter(user=user).exists()
    _unthrottle(device)
    disabled = client.post("/account/two-factor/disable/", {"code": next_totp_code(device)})
    assert disabled.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert "Two-factor authentication is off." in client.get("/account/").content.decode()


def test_two_factor_setup_refused_when_already_on(in_tenant):
    client = signed_in(in_tenant)
    client.post("/account/two-factor/setup/")
    device = TOTPDevice.objects.get(user=client.membership.user)
    client.post("/account/two-factor/confirm/", {"code": next_totp_code(device)})

    response = client.post("/account/two-factor/setup/")

    assert response.status_code == 409
    assert "Two-factor authentication is already enabled." in response.content.decode()


def test_two_factor_confirm_without_a_setup_says_so_above_the_section(in_tenant):
    client = signed_in(in_tenant)

    response = client.post("/account/two-factor/confirm/", {"code": "123456"})

    page = response.content.decode()
    assert response.status_code == 400
    assert '<p class="form-error" role="alert">Two-factor authentication is not set up.</p>' in page
    assert ">Set up two-factor authentication</button>" in page
