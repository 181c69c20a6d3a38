"""Plans (public host) and the organization's billing, checkout and portal."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing.constants import SubscriptionStatus
from apps.billing.models import Plan, Subscription
from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ProjectFactory

from .conftest import make_subscription
from .fake_stripe import PRICES

pytestmark = pytest.mark.django_db

BILLING_URL = "/api/v1/billing/"
CHECKOUT_URL = "/api/v1/billing/checkout/"
PORTAL_URL = "/api/v1/billing/portal/"

DENIED_MANAGE = [
    (None, 401, "not_authenticated"),
    ("outsider", 403, "not_a_member"),
    ("viewer", 403, "role_required"),
    ("member", 403, "role_required"),
    ("manager", 403, "role_required"),
]


# --- plans -------------------------------------------------------------------------


def test_plans_are_public_with_limits_features_and_prices(
    public_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):  # count + page (+ search_path)
        data = expect(public_client.get("/api/v1/plans/"), 200)

    assert [p["code"] for p in data["results"]] == ["free", "pro", "business"]
    free, pro, business = data["results"]
    assert free["limits"] == {"members": 3, "projects": 5}
    assert free["features"] == {"ai": False, "sso": False}
    assert Decimal(free["price_per_seat"]) == 0
    assert pro["limits"] == {"members": 50, "projects": None}
    assert pro["features"] == {"ai": True, "sso": False}
    assert Decimal(pro["price_per_seat"]) == Decimal("9.00")
    assert business["limits"] == {"members": None, "projects": None}
    assert business["features"] == {"ai": True, "sso": True}
    assert pro["currency"] == "USD" and pro["interval"] == "month"


def test_plans_are_not_served_on_an_organization_host(tenant_client):
    expect(tenant_client.get("/api/v1/plans/"), 404)


def test_stripe_price_comes_from_settings_at_runtime(settings):
    pro = Plan.objects.get(code="pro")
    settings.STRIPE_PRICES = {"pro": "price_a"}
    assert pro.stripe_price_id == "price_a"
    settings.STRIPE_PRICES = {"pro": "price_b"}
    assert pro.stripe_price_id == "price_b"
    assert Plan.objects.get(code="free").stripe_price_id == ""


# --- overview ----------------------------------------------------------------------


def test_billing_overview_shows_plan_status_seats_and_usage(
    tenant, in_tenant, django_assert_max_num_queries
):
    trial_end = timezone.now() + datetime.timedelta(days=3)
    make_subscription(
        tenant, "free", seats=2, trial_ends_at=trial_end, stripe_customer_id="cus_secret"
    )
    MembershipFactory(organization=tenant, role="owner")
    ProjectFactory.create_batch(2)
    client = client_as(tenant, "viewer")

    with django_assert_max_num_queries(8):
        data = expect(client.get(BILLING_URL), 200)

    assert data["organization_status"] == "active"
    assert data["subscription"]["plan"] == "free"
    assert data["subscription"]["status"] == "active"
    assert data["subscription"]["seats"] == 2
    assert data["subscription"]["has_payment_account"] is True
    assert "cus_secret" not in str(data)
    assert data["plan"]["limits"] == {"members": 3, "projects": 5}
    assert data["usage"] == {"members": 2, "projects": 2}
    assert data["billing_configured"] is False


def test_billing_overview_of_an_unmanaged_organization(tenant):
    data = expect(client_as(tenant, "member").get(BILLING_URL), 200)
    assert data["subscription"] is None and data["plan"] is None
    assert data["usage"]["members"] == 1


def test_billing_overview_of_another_organization_is_not_visible(tenant, other_tenant):
    make_subscription(other_tenant, "business")
    client = client_as(tenant, "owner")
    data = expect(client.get(BILLING_URL), 200)
    assert data["subscription"] is None  # acme's (none), never globex's
    expect(client.get(BILLING_URL, HTTP_HOST="globex.localhost"), 403, "not_a_member")


# --- checkout ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_checkout_sends_the_exact_session_to_stripe(tenant, fake_stripe, role):
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING)
    MembershipFactory.create_batch(2, organization=tenant, role="member")
    client = client_as(tenant, role)

    data = expect(client.post(CHECKOUT_URL, {"plan": "business"}, format="json"), 200)

    assert data["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    [call] = fake_stripe.requests
    assert (call.method, call.path) == ("POST", "/v1/checkout/sessions")
    org = str(tenant.pk)
    assert call.params == {
        "mode": "subscription",
        "line_items[0][price]": PRICES["business"],
        "line_items[0][quantity]": "3",
        "client_reference_id": org,
        "success_url": "http://acme.localhost:8000/billing?checkout=success",
        "cancel_url": "http://acme.localhost:8000/billing?checkout=cancelled",
        "metadata[organization_id]": org,
        "metadata[plan]": "business",
        "subscription_data[metadata][organization_id]": org,
        "subscription_data[metadata][plan]": "business",
        "customer_email": client.user.email,
    }
    assert call.headers["Authorization"] == "Bearer sk_test_novatime"


def test_checkout_carries_a_running_trial_and_the_known_customer(tenant, fake_stripe):
    trial_end = timezone.now().replace(microsecond=0) + datetime.timedelta(days=10)
    make_subscription(
        tenant,
        "pro",
        status=SubscriptionStatus.TRIALING,
        trial_ends_at=trial_end,
        stripe_customer_id="cus_known",
    )
    expect(client_as(tenant, "owner").post(CHECKOUT_URL, {"plan": "pro"}, format="json"), 200)

    params = fake_stripe.requests[0].params
    assert params["subscription_data[trial_end]"] == str(int(trial_end.timestamp()))
    assert params["customer"] == "cus_known"
    assert "customer_email" not in params
    assert params["line_items[0][price]"] == PRICES["pro"]


def test_checkout_starts_a_trial_record_for_an_unmanaged_organization(tenant, fake_stripe):
    expect(client_as(tenant, "owner").post(CHECKOUT_URL, {"plan": "pro"}, format="json"), 200)
    assert Subscription.objects.get(organization=tenant).status == SubscriptionStatus.TRIALING


@pytest.mark.parametrize(("who", "status", "code"), DENIED_MANAGE)
def test_checkout_and_portal_are_for_owners_and_admins(tenant, fake_stripe, who, status, code):
    make_subscription(tenant, "pro", stripe_customer_id="cus_1")
    client = client_as(tenant, who)
    expect(client.post(CHECKOUT_URL, {"plan": "pro"}, format="json"), status, code)
    expect(client.post(PORTAL_URL), status, code)
    assert fake_stripe.requests == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"plan": "platinum"}, "unknown_plan"),
        ({"plan": "free"}, "plan_not_purchasable"),
        ({}, "invalid"),
        ({"plan": ["pro"]}, "invalid"),
    ],
)
def test_checkout_refuses_bad_plans(tenant, fake_stripe, body, code):
    data = expect(client_as(tenant, "owner").post(CHECKOUT_URL, body, format="json"), 400, code)
    assert "plan" in data["fields"]
    assert fake_stripe.requests == []
    assert not Subscription.objects.filter(organization=tenant).exists()  # nothing written


def test_checkout_with_a_live_subscription_is_409(tenant, fake_stripe):
    make_subscription(tenant, "pro", stripe_customer_id="cus_1", stripe_subscription_id="sub_1")
    expect(
        client_as(tenant, "owner").post(CHECKOUT_URL, {"plan": "business"}, format="json"),
        409,
        "subscription_exists",
    )
    assert fake_stripe.requests == []


def test_without_stripe_keys_checkout_and_portal_are_503(tenant, settings):
    settings.STRIPE_SECRET_KEY = ""
    make_subscription(tenant, "pro", stripe_customer_id="cus_1")
    client = client_as(tenant, "owner")
    expect(client.post(CHECKOUT_URL, {"plan": "pro"}, format="json"), 503, "billing_not_configured")
    expect(client.post(PORTAL_URL), 503, "billing_not_configured")


def test_checkout_for_a_plan_without_a_configured_price_is_503(tenant, fake_stripe, settings):
    settings.STRIPE_PRICES = {"pro": "price_pro_test"}
    expect(
        client_as(tenant, "owner").post(CHECKOUT_URL, {"plan": "business"}, format="json"),
        503,
        "billing_not_configured",
    )
    assert fake_stripe.requests == []


def test_stripe_refusing_checkout_is_a_clean_error_not_a_500(tenant, fake_stripe):
    fake_stripe.failures.append(
        (400, {"error": {"type": "invalid_request_error", "message": "No such price"}})
    )
    response = client_as(tenant, "owner").post(CHECKOUT_URL, {"plan": "pro"}, format="json")
    expect(response, 502, "stripe_error")


# --- portal --------------------------------------------------------------------------


def test_portal_session_for_the_customer(tenant, fake_stripe):
    make_subscription(tenant, "pro", stripe_customer_id="cus_1")
    data = expect(client_as(tenant, "admin").post(PORTAL_URL), 200)
    assert data["url"].startswith("https://billing.stripe.com/p/session/")
    [call] = fake_stripe.requests
    assert (call.method, call.path) == ("POST", "/v1/billing_portal/sessions")
    assert call.params == {"customer": "cus_1", "return_url": "http://acme.localhost:8000/billing"}


def test_portal_before_any_checkout_is_409(tenant, fake_stripe):
    make_subscription(tenant, "pro")
    expect(client_as(tenant, "owner").post(PORTAL_URL), 409, "no_billing_account")
    assert fake_stripe.requests == []


def test_a_user_in_both_organizations_acts_with_the_role_of_the_host(
    tenant, other_tenant, fake_stripe
):
    make_subscription(tenant, "pro", stripe_customer_id="cus_acme")
    make_subscription(other_tenant, "business", stripe_customer_id="cus_globex")
    owner_there = MembershipFactory(organization=other_tenant, role="owner")
    MembershipFactory(organization=tenant, role="member", user=owner_there.user)
    client = client_as(tenant, owner_there)
    client.membership = None

    data = expect(client.get(BILLING_URL), 200)
    assert data["subscription"]["plan"] == "pro"
    expect(client.post(PORTAL_URL), 403, "role_required")
    expect(client.post(PORTAL_URL, HTTP_HOST="globex.localhost"), 200)
    assert [c.params["customer"] for c in fake_stripe.requests] == ["cus_globex"]
