"""Sign-in pages of an organization host (``/signin/``, ``/signout/``): a
session for THIS host only, for active members, with the second factor where
the user has one; pages answer HTML (the API keeps its JSON)."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.testing import next_totp_code, totp_device, wrong_totp_code
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from apps.organizations.constants import MembershipStatus
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def browser(tenant, **kw) -> TenantAPIClient:
    return TenantAPIClient(tenant, HTTP_ACCEPT="text/html", **kw)


def sign_in(client, email, password=DEFAULT_PASSWORD, next_url=""):
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/signin/", data)


def test_signin_page_has_labelled_email_and_password(tenant):
    response = browser(tenant).get("/signin/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_email">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert ">Sign in</button>" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_member_signs_in_and_lands_on_next(tenant):
    membership = MembershipFactory(organization=tenant)
    client = browser(tenant)

    response = sign_in(client, membership.user.email, next_url="/?x=1")

    assert response.status_code == 302
    assert response["Location"] == "/?x=1"
    assert client.session[SESSION_ORGANIZATION_KEY] == str(tenant.pk)
    assert client.get("/").status_code == 200


def test_next_to_another_host_is_ignored(tenant):
    membership = MembershipFactory(organization=tenant)

    response = sign_in(browser(tenant), membership.user.email, next_url="https://evil.example/")

    assert response["Location"] == "/"


def test_wrong_password_is_refused_with_a_message_and_the_email_kept(tenant):
    membership = MembershipFactory(organization=tenant)
    client = browser(tenant)

    response = sign_in(client, membership.user.email, password="wrong")

    assert response.status_code == 400
    html = response.content.decode()
    assert "The email or password is not correct." in html
    assert f'value="{membership.user.email}"' in html
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("how", ["other_org", "no_org", "inactive"])
def test_non_member_is_refused_with_a_clear_message(tenant, other_tenant, how):
    if how == "other_org":
        user = MembershipFactory(organization=other_tenant).user
    elif how == "inactive":
        user = MembershipFactory(organization=tenant, status=MembershipStatus.DEACTIVATED).user
    else:
        user = UserFactory()
    client = browser(tenant)

    response = sign_in(client, user.email)

    assert response.status_code == 400
    assert "You are not a member of this organization." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_two_factor_user_gives_the_code(tenant):
    membership = MembershipFactory(organization=tenant)
    device = totp_device(membership.user)
    client = browser(tenant)

    response = sign_in(client, membership.user.email)

    assert response.status_code == 200
    assert '<label for="id_code">Code</label>' in response.content.decode()
    assert "_auth_user_id" not in client.session

    right = client.post("/signin/", {"code": next_totp_code(device)})
    assert right.status_code == 302
    assert client.session["_auth_user_id"] == str(membership.user.pk)
    assert client.get("/").status_code == 200


def test_wrong_two_factor_code_is_refused(tenant):
    membership = MembershipFactory(organization=tenant)
    device = totp_device(membership.user)
    client = browser(tenant)
    sign_in(client, membership.user.email)

    wrong = client.post("/signin/", {"code": wrong_totp_code(device)})

    assert wrong.status_code == 400
    assert "The two-factor code is not valid." in wrong.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_member_who_must_turn_two_factor_on_signs_in_and_reaches_only_account(tenant):
    """The organization requires two-factor; this member has none yet: the
    sign-in succeeds, every page sends them to /account/, which says why and
    turns it on; then every page opens."""
    tenant.require_two_factor = True
    tenant.save(update_fields=["require_two_factor"])
    membership = MembershipFactory(organization=tenant)
    client = browser(tenant)

    response = sign_in(client, membership.user.email)

    assert response.status_code == 302 and "_auth_user_id" in client.session
    for path in ("/", "/timesheets/", "/chat/", "/projects/"):
        page = client.get(path)
        assert (page.status_code, page["Location"]) == (302, "/account/"), path
    refused_write = client.post("/timer/start/", {"project": ""})
    assert (refused_write.status_code, refused_write["Location"]) == (302, "/account/")
    account = client.get("/account/")
    body = account.content.decode()
    assert account.status_code == 200
    assert "This organization requires two-factor authentication." in body
    assert "data-live-socket" not in body  # /ws/ would refuse this member

    assert client.post("/account/two-factor/setup/").status_code == 302
    device = TOTPDevice.objects.get(user=membership.user)
    confirmed = client.post("/account/two-factor/confirm/", {"code": next_totp_code(device)})

    assert confirmed.status_code == 200
    assert client.get("/").status_code == 200
    assert "data-live-socket" in client.get("/account/").content.decode()


def test_signout_is_post_only_and_ends_the_session(tenant):
    membership = MembershipFactory(organization=tenant)
    client = browser(tenant)
    sign_in(client, membership.user.email)

    assert client.get("/signout/").status_code == 405
    response = client.post("/signout/")

    assert response.status_code == 302 and response["Location"] == "/signin/"
    assert client.get("/")["Location"] == "/signin/?next=%2F"


def test_signin_form_needs_the_csrf_token(tenant):
    membership = MembershipFactory(organization=tenant)
    client = browser(tenant, enforce_csrf_checks=True)

    response = sign_in(client, membership.user.email)

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_session_and_csrf_cookies_are_host_only(tenant):
    membership = MembershipFactory(organization=tenant)
    client = browser(tenant)
    client.get("/signin/")
    sign_in(client, membership.user.email)

    assert client.cookies["sessionid"]["domain"] == ""
    assert client.cookies["csrftoken"]["domain"] == ""


def test_web_pages_carry_csp_and_frame_protection(tenant):
    response = browser(tenant).get("/signin/")

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"


def test_unknown_page_is_html_for_a_browser_and_json_for_the_api(tenant):
    client = browser(tenant)

    page = client.get("/no-such-page/")
    api = client.get("/api/v1/no-such-endpoint/")

    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    assert "Page not found" in page.content.decode()
    assert api.status_code == 404 and api.json()["code"] == "not_found"
