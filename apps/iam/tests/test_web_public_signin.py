"""Sign-in on the public host (``/signin/``) and the single-use link that hands
the user to an organization's host (``/signin/link/<key>/``): sessions are per
host, so the public host never signs anyone in itself."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from apps.common.testing import next_totp_code, totp_device, wrong_totp_code
from apps.iam.models import SignInLink
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from apps.iam.web.links import LINK_SECONDS, signin_link_create
from apps.organizations.constants import MembershipStatus
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def browser(tenant=None, **kw) -> TenantAPIClient:
    return TenantAPIClient(tenant, HTTP_ACCEPT="text/html", **kw)


def sign_in(client, email, password=DEFAULT_PASSWORD):
    return client.post("/signin/", {"email": email, "password": password})


def _key(location: str, slug: str) -> str:
    match = re.fullmatch(rf"http://{slug}\.localhost:8000/signin/link/([\w-]+)/", location)
    assert match, location
    return match.group(1)


def test_public_signin_page_has_labelled_fields_and_csrf():
    html = browser().get("/signin/").content.decode()

    assert '<label for="id_email">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert ">Sign in</button>" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_public_signin_needs_the_csrf_token(tenant):
    membership = MembershipFactory(organization=tenant)

    response = sign_in(browser(enforce_csrf_checks=True), membership.user.email)

    assert response.status_code == 403


def test_one_organization_goes_straight_to_its_host_signed_in(tenant):
    membership = MembershipFactory(organization=tenant)
    public = browser()

    response = sign_in(public, membership.user.email)

    assert response.status_code == 302
    key = _key(response["Location"], tenant.slug)
    assert "_auth_user_id" not in public.session  # the public host keeps no sign-in
    org_client = browser(tenant)
    landed = org_client.get(f"/signin/link/{key}/")
    assert landed.status_code == 302 and landed["Location"] == "/"
    assert org_client.session["_auth_user_id"] == str(membership.user.pk)
    assert org_client.session[SESSION_ORGANIZATION_KEY] == str(tenant.pk)
    assert org_client.get("/").status_code == 200


def test_several_organizations_are_listed_and_the_chosen_one_opens(tenant, other_tenant):
    membership = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=membership.user)
    public = browser()

    listing = sign_in(public, membership.user.email)

    assert listing.status_code == 200
    html = listing.content.decode()
    assert f">Open {tenant.name}</button>" in html
    assert f">Open {other_tenant.name}</button>" in html
    chosen = public.post("/signin/organizations/", {"organization": str(other_tenant.pk)})
    assert chosen.status_code == 302
    _key(chosen["Location"], other_tenant.slug)


def test_choosing_an_organization_one_is_not_a_member_of_is_refused(tenant, other_tenant):
    membership = MembershipFactory(organization=tenant)
    MembershipFactory(organization=tenant, user=UserFactory())
    public = browser()
    sign_in(public, membership.user.email)

    response = public.post("/signin/organizations/", {"organization": str(other_tenant.pk)})

    assert response.status_code == 403
    assert not SignInLink.objects.filter(organization_id=other_tenant.pk).exists()


def test_organizations_page_without_a_sign_in_goes_to_sign_in():
    response = browser().get("/signin/organizations/")

    assert response.status_code == 302 and response["Location"] == "/signin/"


def test_wrong_password_is_refused_with_the_email_kept(tenant):
    membership = MembershipFactory(organization=tenant)

    response = sign_in(browser(), membership.user.email, password="wrong")

    assert response.status_code == 400
    html = response.content.decode()
    assert "The email or password is not correct." in html
    assert f'value="{membership.user.email}"' in html
    assert not SignInLink.objects.exists()


def test_user_without_organizations_is_told_so(db):
    user = UserFactory()

    response = sign_in(browser(), user.email)

    assert response.status_code == 200
    assert "You are not a member of any organization yet." in response.content.decode()


def test_inactive_membership_is_not_offered(tenant):
    membership = MembershipFactory(organization=tenant, status=MembershipStatus.DEACTIVATED)

    response = sign_in(browser(), membership.user.email)

    assert "You are not a member of any organization yet." in response.content.decode()


def test_two_factor_user_gives_the_code_first(tenant):
    membership = MembershipFactory(organization=tenant)
    device = totp_device(membership.user)
    public = browser()

    first = sign_in(public, membership.user.email)
    assert first.status_code == 200
    assert '<label for="id_code">Code</label>' in first.content.decode()
    assert not SignInLink.objects.exists()
    right = public.post("/signin/", {"code": next_totp_code(device)})
    assert right.status_code == 302
    _key(right["Location"], tenant.slug)


def test_a_wrong_two_factor_code_gives_no_link(tenant):
    membership = MembershipFactory(organization=tenant)
    device = totp_device(membership.user)
    public = browser()
    sign_in(public, membership.user.email)

    wrong = public.post("/signin/", {"code": wrong_totp_code(device)})

    assert wrong.status_code == 400
    assert "The two-factor code is not valid." in wrong.content.decode()
    assert not SignInLink.objects.exists()


# --- the link ------------------------------------------------------------------


def test_the_key_is_stored_hashed_with_a_short_expiry(tenant):
    membership = MembershipFactory(organization=tenant)

    url = signin_link_create(user=membership.user, organization=tenant)

    key = _key(url, tenant.slug)
    assert len(key) >= 43  # 256 random bits: not guessable, so the page is not throttled
    link = SignInLink.objects.get()
    assert key not in link.key_hash and len(link.key_hash) == 64
    assert link.expires_at - link.created_at == datetime.timedelta(seconds=LINK_SECONDS)
    assert LINK_SECONDS <= 60


def test_a_link_is_single_use(tenant):
    membership = MembershipFactory(organization=tenant)
    key = _key(signin_link_create(user=membership.user, organization=tenant), tenant.slug)
    assert browser(tenant).get(f"/signin/link/{key}/").status_code == 302

    replay = browser(tenant)
    response = replay.get(f"/signin/link/{key}/")

    assert response.status_code == 400
    assert "This sign-in link has already been used" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "_auth_user_id" not in replay.session


def test_replays_redeem_once(tenant):
    """The claim is one conditional UPDATE (unused, unexpired, this
    organization): whoever runs it second, even at the same time, updates
    no row and is refused."""
    from apps.iam.web.links import LinkRefusal, signin_link_redeem

    membership = MembershipFactory(organization=tenant)
    key = _key(signin_link_create(user=membership.user, organization=tenant), tenant.slug)

    outcomes = [signin_link_redeem(key=key, organization=tenant) for _ in range(3)]

    assert outcomes == [membership.user, LinkRefusal.USED, LinkRefusal.USED]


def test_an_expired_link_is_refused(tenant):
    membership = MembershipFactory(organization=tenant)
    key = _key(signin_link_create(user=membership.user, organization=tenant), tenant.slug)
    SignInLink.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    client = browser(tenant)

    response = client.get(f"/signin/link/{key}/")

    assert response.status_code == 400
    assert "This sign-in link has expired" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_link_for_organization_a_is_refused_on_b_and_stays_unused(tenant, other_tenant):
    membership = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=membership.user)
    key = _key(signin_link_create(user=membership.user, organization=tenant), tenant.slug)
    on_b = browser(other_tenant)

    response = on_b.get(f"/signin/link/{key}/")

    assert response.status_code == 400
    assert "This sign-in link is for another organization." in response.content.decode()
    assert "_auth_user_id" not in on_b.session
    assert SignInLink.objects.get().used_at is None
    assert browser(tenant).get(f"/signin/link/{key}/").status_code == 302


def test_an_unknown_link_is_refused(tenant):
    response = browser(tenant).get("/signin/link/not-a-real-key/")

    assert response.status_code == 400
    assert "This sign-in link is not valid." in response.content.decode()


def test_a_link_of_a_member_removed_since_is_refused(tenant):
    membership = MembershipFactory(organization=tenant)
    key = _key(signin_link_create(user=membership.user, organization=tenant), tenant.slug)
    membership.status = MembershipStatus.DEACTIVATED
    membership.save(update_fields=["status"])
    client = browser(tenant)

    response = client.get(f"/signin/link/{key}/")

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_the_link_page_does_not_exist_on_the_public_host():
    assert browser().get("/signin/link/abc/").status_code == 404


def test_a_link_replaces_another_users_session_on_that_host(tenant):
    first = MembershipFactory(organization=tenant)
    second = MembershipFactory(organization=tenant)
    client = browser(tenant)
    for membership in (first, second):
        url = signin_link_create(user=membership.user, organization=tenant)
        client.get(f"/signin/link/{_key(url, tenant.slug)}/")

    assert client.session["_auth_user_id"] == str(second.user.pk)
