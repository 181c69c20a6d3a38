"""Pages of the public host (issue #20, UI.md): the landing page with the
plans, sign-up with its subdomain check (the API's rules and messages: the
same serializer, service and slug rule), landing signed in on the new host."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django_tenants.utils import get_tenant_model, schema_exists

from apps.billing.models import Plan
from apps.iam.models import SignInLink, User
from apps.iam.tests.factories import UserFactory
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from apps.organizations.models import Membership
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

GOOD = {
    "organization_name": "Initech",
    "slug": "initech",
    "email": "Peter@Initech.test",
    "password": "tps reports 4ever",
}


def browser(tenant=None, **kw) -> TenantAPIClient:
    return TenantAPIClient(tenant, HTTP_ACCEPT="text/html", **kw)


def _state() -> tuple[int, int, int, int]:
    return (
        get_tenant_model().objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        SignInLink.objects.count(),
    )


def test_landing_says_what_novatime_is_lists_the_plans_and_links_sign_up_and_in():
    response = browser().get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "time tracking for teams" in html
    plans = list(Plan.objects.all())
    assert plans, "the plans table is seeded by a migration"
    for plan in plans:
        assert f"<h3>{plan.name}</h3>" in html
    assert '<a class="button primary" href="/signup/">Sign up</a>' in html
    assert '<a class="button" href="/signin/">Sign in</a>' in html


def test_signup_page_has_the_labelled_fields_csrf_and_the_htmx_check():
    html = browser().get("/signup/").content.decode()

    for field, label in [
        ("organization_name", "Organization name"),
        ("slug", "Subdomain"),
        ("email", "Email"),
        ("password", "Password"),
    ]:
        assert f'<label for="id_{field}">{label}</label>' in html
    assert ">Create organization</button>" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'hx-get="/signup/slug-check/"' in html


def test_signup_refuses_a_post_without_csrf_token():
    client = browser(enforce_csrf_checks=True)

    response = client.post("/signup/", GOOD)

    assert response.status_code == 403
    assert not get_tenant_model().objects.filter(slug="initech").exists()


def test_signup_creates_the_organization_as_the_api_does_and_lands_signed_in():
    response = browser().post("/signup/", GOOD)

    assert response.status_code == 302, response.content[:500]
    org = get_tenant_model().objects.get(slug="initech")
    assert org.name == "Initech" and org.status == "trialing"
    assert schema_exists(org.schema_name)
    user = User.objects.get(email="peter@initech.test")
    assert user.check_password("tps reports 4ever")
    assert Membership.objects.get(organization=org).role == "owner"
    # Handed to the new organization's host (built like the API's organization.url).
    match = re.fullmatch(
        r"http://initech\.localhost:8000/signin/link/([\w-]+)/", response["Location"]
    )
    assert match, response["Location"]

    org_client = browser(org)
    landed = org_client.get(f"/signin/link/{match.group(1)}/")

    assert landed.status_code == 302 and landed["Location"] == "/"
    assert org_client.session[SESSION_ORGANIZATION_KEY] == str(org.pk)
    page = org_client.get("/")
    assert page.status_code == 200
    assert b"Start timer" in page.content


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"slug": "www"}, "slug", "This slug is reserved."),
        ({"slug": "acme"}, "slug", "This slug is already taken."),
        ({"slug": "Bad_Slug"}, "slug", "The slug may contain lower-case letters"),
        ({"slug": "ab"}, "slug", "The slug must be 3-40 characters long."),
        ({"password": "123"}, "password", "This password is too short."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": ""}, "email", "This field may not be blank."),
        ({"organization_name": ""}, "organization_name", "This field may not be blank."),
    ],
)
def test_bad_input_shows_the_api_message_next_to_the_field_and_keeps_the_input(
    public_client, override, field, message
):
    data = {**GOOD, **override}
    api = public_client.post("/api/v1/signup/", data, format="json").json()
    assert any(m.startswith(message) for m in api["fields"][field]), api  # the API's words
    before = _state()

    response = browser().post("/signup/", data)

    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(rf'<ul class="field-errors" id="id_{field}-errors">(.*?)</ul>', html, re.S)
    assert errors, html
    assert message in errors.group(1).replace("&#x27;", "'")
    for kept in ("organization_name", "slug", "email"):
        if data[kept]:
            assert f'value="{data[kept]}"' in html
    assert data["password"] not in re.findall(r'value="([^"]*)"', html)
    assert _state() == before


def test_taken_email_is_shown_next_to_the_email():
    UserFactory(email="peter@initech.test")
    before = _state()

    response = browser().post("/signup/", GOOD)

    assert response.status_code == 400
    assert "An account with this email already exists." in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("fresh-co", "fresh-co.localhost is available."),
        ("acme", "This slug is already taken."),
        ("www", "This slug is reserved."),
        ("a", "The slug must be 3-40 characters long."),
        ("Bad_Slug", "The slug may contain lower-case letters"),
        ("", ""),
    ],
)
def test_slug_check_fragment_uses_the_signup_rules(slug, expected):
    response = browser().get("/signup/slug-check/", {"slug": slug}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # a fragment
    assert expected in html
    if not expected:
        assert html.strip() == ""


def test_public_pages_are_not_served_on_an_organization_host(tenant):
    assert browser(tenant).get("/signup/").status_code == 404
    assert browser(tenant).get("/signup/slug-check/", {"slug": "x"}).status_code == 404


@override_settings(NOVATIME_URL_SCHEME="https", NOVATIME_URL_PORT="443")
def test_the_link_is_https_without_a_port_when_so_configured():
    response = browser().post("/signup/", GOOD)

    assert response["Location"].startswith("https://initech.localhost/signin/link/")


def test_signup_shares_the_api_signup_throttle(public_client, monkeypatch):
    from apps.common.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"signup": "2/hour"})
    for slug in ("first-co", "second-co"):
        public_client.post("/api/v1/signup/", {**GOOD, "slug": slug}, format="json")

    response = browser().post("/signup/", GOOD)

    assert response.status_code == 429
    assert "Too many sign-ups" in response.content.decode()
    assert not get_tenant_model().objects.filter(slug="initech").exists()


def test_signup_page_allows_its_form_to_hand_off_to_organization_hosts_only():
    """CSP ``form-action`` covers the redirect after a submission: the public
    forms add the organization hosts, no other origin, and no inline script."""
    csp = browser().get("/signup/")["Content-Security-Policy"]

    form_action = next(d for d in csp.split(";") if d.strip().startswith("form-action"))
    assert form_action.split()[1:] == ["'self'", "http://*.localhost:8000"]
    script = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script
