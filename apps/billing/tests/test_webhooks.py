"""Stripe webhooks: signature, store-once, processing by re-reading Stripe,
out-of-order and duplicate delivery, unknown customers, tenant isolation."""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import pytest
from django.db import connections

from apps.billing import dunning, webhooks
from apps.billing.constants import SubscriptionStatus, WebhookEventStatus
from apps.billing.models import Subscription, WebhookEvent
from apps.common.testing import expect
from config.celery import app as celery_app

from .conftest import WEBHOOK_URL, make_subscription, post_event
from .fake_stripe import (
    PERIOD_END,
    checkout_completed,
    invoice_event,
    signed_event,
    subscription_event,
)

pytestmark = pytest.mark.django_db


def _subscription_of(org: Any) -> Subscription:
    return Subscription.objects.select_related("plan").get(organization=org)


# --- verification ------------------------------------------------------------------


def test_bad_signature_is_400_and_nothing_is_stored(public_client, fake_stripe):
    body, _ = signed_event("invoice.paid", {"id": "in_1", "customer": "cus_x"})
    _, wrong = signed_event("invoice.paid", {"id": "in_1"}, secret="whsec_someone_else")

    response = public_client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=wrong
    )

    expect(response, 400, "invalid_signature")
    assert not WebhookEvent.objects.exists()


def test_missing_signature_is_400(public_client, fake_stripe):
    body, _ = signed_event("invoice.paid", {"id": "in_1"})
    response = public_client.post(WEBHOOK_URL, data=body, content_type="application/json")
    expect(response, 400, "invalid_signature")


def test_tampered_body_is_400(public_client, fake_stripe):
    body, header = signed_event("invoice.paid", {"id": "in_1", "customer": "cus_a"})
    tampered = body.replace(b"cus_a", b"cus_b")
    response = public_client.post(
        WEBHOOK_URL, data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    expect(response, 400, "invalid_signature")
    assert not WebhookEvent.objects.exists()


def test_stale_timestamp_is_refused_by_the_default_tolerance(public_client, fake_stripe):
    old = int(time.time()) - 301  # stripe's default tolerance is 300 s
    response = post_event(public_client, signed_event("invoice.paid", {"id": "i"}, timestamp=old))
    expect(response, 400, "invalid_signature")
    recent = int(time.time()) - 200
    response = post_event(
        public_client, signed_event("invoice.paid", {"id": "i"}, timestamp=recent)
    )
    expect(response, 200)


def test_without_webhook_secret_is_503(public_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post_event(public_client, signed_event("invoice.paid", {"id": "in_1"}))
    expect(response, 503, "billing_not_configured")


@pytest.mark.parametrize("body", ["not json", "[]", '{"object": "event"}', '"text"'])
def test_signed_garbage_is_400_invalid_payload(public_client, fake_stripe, body):
    import stripe

    header = stripe.WebhookSignature.generate_signature_header(body, fake_stripe_secret())
    response = public_client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    expect(response, 400, "invalid_payload")
    assert not WebhookEvent.objects.exists()


def fake_stripe_secret() -> str:
    from .fake_stripe import WEBHOOK_SECRET

    return WEBHOOK_SECRET


# --- store once, process after commit ------------------------------------------------


def test_checkout_completed_links_and_activates_from_the_stripe_state(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING)
    fake_stripe.add_subscription(
        "sub_1",
        customer="cus_1",
        status="active",
        plan="business",
        quantity=4,
        organization_id=tenant.pk,
    )

    with commit():
        data = expect(
            post_event(
                public_client,
                checkout_completed(
                    organization_id=tenant.pk, customer="cus_1", subscription="sub_1"
                ),
            ),
            200,
        )

    assert data["received"] is True and data["duplicate"] is False
    sub = _subscription_of(tenant)
    assert sub.stripe_customer_id == "cus_1"
    assert sub.stripe_subscription_id == "sub_1"
    assert sub.stripe_item_id == "si_sub_1"
    assert sub.plan.code == "business"
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.seats_synced == 4
    assert sub.current_period_end == datetime.datetime.fromtimestamp(PERIOD_END, tz=datetime.UTC)
    tenant.refresh_from_db()
    assert tenant.status == "active"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.organization_id == tenant.pk
    assert event.attempts == 1
    assert [c.path for c in fake_stripe.calls("GET", "/v1/subscriptions/")] == [
        "/v1/subscriptions/sub_1"
    ]


def test_processing_waits_for_the_commit(public_client, fake_stripe, eager_celery, tenant):
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING)
    fake_stripe.add_subscription("sub_1", customer="cus_1", organization_id=tenant.pk)

    post_event(
        public_client,
        checkout_completed(organization_id=tenant.pk, customer="cus_1", subscription="sub_1"),
    )  # no commit: the task must not have run

    assert WebhookEvent.objects.get().status == WebhookEventStatus.PENDING
    assert fake_stripe.requests == []


def test_duplicate_delivery_is_stored_and_processed_once(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING)
    fake_stripe.add_subscription("sub_1", customer="cus_1", organization_id=tenant.pk)
    signed = checkout_completed(organization_id=tenant.pk, customer="cus_1", subscription="sub_1")

    with commit():
        first = expect(post_event(public_client, signed), 200)
    with commit():
        second = expect(post_event(public_client, signed), 200)

    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert first["id"] == second["id"]
    assert WebhookEvent.objects.count() == 1
    assert len(fake_stripe.calls("GET", "/v1/subscriptions/")) == 1


def test_twenty_concurrent_duplicates_store_one_row_and_queue_once(
    fake_stripe, django_db_blocker, monkeypatch
):
    """20 threads, each on its own committed connection, deliver the same event."""
    from tenants.testing import TenantAPIClient

    queued: list[Any] = []
    lock = threading.Lock()

    def record(pk: Any) -> None:
        with lock:
            queued.append(pk)

    monkeypatch.setattr(webhooks, "webhook_event_enqueue", record)
    signed = signed_event(
        "customer.subscription.updated", {"id": "sub_concurrent", "customer": "cus_nobody"}
    )
    event_id = __import__("json").loads(signed[0])["id"]
    statuses: list[int] = []
    duplicates: list[bool] = []
    barrier = threading.Barrier(20)

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            response = post_event(TenantAPIClient(None), signed)
            with lock:
                statuses.append(response.status_code)
                duplicates.append(response.json()["duplicate"])
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=deliver) for _ in range(20)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            stored = _committed(
                lambda: WebhookEvent.objects.filter(stripe_event_id=event_id).count()
            )
        finally:
            _committed(lambda: WebhookEvent.objects.filter(stripe_event_id=event_id).delete())

    assert statuses == [200] * 20
    assert sorted(duplicates) == [False] + [True] * 19
    assert stored == 1
    assert len(queued) == 1


def _committed(work: Any) -> Any:
    """Run ``work`` on a fresh autocommit connection (outside the test's transaction)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        finally:
            connections.close_all()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out.get("value")


# --- ordering, unknown customers, isolation ------------------------------------------


def test_out_of_order_events_end_in_the_current_stripe_state(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    """Stripe's order: created (incomplete) → checkout completed → updated (active).
    Delivered: updated, checkout, then the stale created. Each re-reads Stripe."""
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING)
    stale = dict(
        fake_stripe.add_subscription(
            "sub_1", customer="cus_1", status="incomplete", organization_id=tenant.pk
        )
    )
    current = fake_stripe.add_subscription(
        "sub_1", customer="cus_1", status="active", quantity=2, organization_id=tenant.pk
    )

    for signed in (
        subscription_event(current, "customer.subscription.updated"),
        checkout_completed(organization_id=tenant.pk, customer="cus_1", subscription="sub_1"),
        subscription_event(stale, "customer.subscription.created"),
    ):
        with commit():
            expect(post_event(public_client, signed), 200)

    sub = _subscription_of(tenant)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert (sub.stripe_customer_id, sub.stripe_subscription_id) == ("cus_1", "sub_1")
    assert sub.seats_synced == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_late_deleted_event_of_an_old_subscription_does_not_cancel_the_new_one(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    make_subscription(
        tenant,
        "pro",
        stripe_customer_id="cus_1",
        stripe_subscription_id="sub_new",
        stripe_item_id="si_sub_new",
    )
    fake_stripe.add_subscription("sub_new", customer="cus_1", organization_id=tenant.pk)
    old = fake_stripe.add_subscription(
        "sub_old", customer="cus_1", status="canceled", organization_id=tenant.pk
    )

    with commit():
        expect(
            post_event(public_client, subscription_event(old, "customer.subscription.deleted")), 200
        )

    sub = _subscription_of(tenant)
    assert (sub.stripe_subscription_id, sub.status) == ("sub_new", SubscriptionStatus.ACTIVE)
    tenant.refresh_from_db()
    assert tenant.status == "active"


def test_unknown_customer_is_ignored_and_changes_nothing(
    public_client, fake_stripe, eager_celery, commit, tenant, other_tenant
):
    mine = make_subscription(tenant, "pro", stripe_customer_id="cus_acme")
    theirs = make_subscription(other_tenant, "free", stripe_customer_id="cus_globex")
    sub = fake_stripe.add_subscription("sub_ghost", customer="cus_ghost", status="canceled")

    with commit():
        expect(
            post_event(public_client, subscription_event(sub, "customer.subscription.deleted")), 200
        )

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.IGNORED
    assert "cus_ghost" in event.error
    assert event.organization_id is None
    for before in (mine, theirs):
        after = Subscription.objects.get(pk=before.pk)
        assert (after.status, after.plan_id, after.stripe_subscription_id) == (
            before.status,
            before.plan_id,
            None,
        )
    assert fake_stripe.requests == []


def test_a_webhook_for_one_organization_never_changes_another(
    public_client, fake_stripe, eager_celery, commit, tenant, other_tenant
):
    make_subscription(tenant, "pro", stripe_customer_id="cus_acme", stripe_subscription_id="sub_a")
    theirs = make_subscription(
        other_tenant, "pro", stripe_customer_id="cus_globex", stripe_subscription_id="sub_g"
    )
    fake_stripe.add_subscription("sub_a", customer="cus_acme", status="unpaid")
    # The event even names the other organization in its metadata: the
    # customer and subscription ids decide, and they are acme's.
    body = dict(
        fake_stripe.subscriptions["sub_a"], metadata={"organization_id": str(other_tenant.pk)}
    )

    with commit():
        expect(
            post_event(public_client, subscription_event(body, "customer.subscription.updated")),
            200,
        )

    assert _subscription_of(tenant).status == SubscriptionStatus.UNPAID
    after = Subscription.objects.get(pk=theirs.pk)
    assert (after.status, after.stripe_subscription_id) == (SubscriptionStatus.ACTIVE, "sub_g")
    other_tenant.refresh_from_db()
    tenant.refresh_from_db()
    assert (tenant.status, other_tenant.status) == ("suspended", "active")
    assert WebhookEvent.objects.get().organization_id == tenant.pk


def test_checkout_for_an_organization_bound_to_another_customer_is_ignored(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    make_subscription(tenant, "pro", stripe_customer_id="cus_acme")
    with commit():
        post_event(
            public_client,
            checkout_completed(
                organization_id=tenant.pk, customer="cus_evil", subscription="sub_x"
            ),
        )
    assert WebhookEvent.objects.get().status == WebhookEventStatus.IGNORED
    assert _subscription_of(tenant).stripe_customer_id == "cus_acme"


def test_unhandled_event_types_are_stored_and_ignored(
    public_client, fake_stripe, eager_celery, commit
):
    with commit():
        expect(post_event(public_client, signed_event("charge.refunded", {"id": "ch_1"})), 200)
    event = WebhookEvent.objects.get()
    assert (event.type, event.status) == ("charge.refunded", WebhookEventStatus.IGNORED)


# --- failures and retries --------------------------------------------------------------


def test_transient_stripe_error_is_retried_and_then_applied(
    public_client, fake_stripe, eager_celery, commit, tenant, monkeypatch
):
    monkeypatch.setattr("apps.billing.tasks.RETRY_BASE_SECONDS", 0)
    # Eager Celery re-runs a retried task only when it does not propagate the Retry.
    celery_app.conf.task_eager_propagates = False  # restored by eager_celery
    make_subscription(tenant, "pro", stripe_customer_id="cus_1", stripe_subscription_id="sub_1")
    fake_stripe.add_subscription("sub_1", customer="cus_1", status="past_due")
    fake_stripe.fail_next(2, status=500)

    with commit():
        post_event(
            public_client,
            invoice_event("invoice.payment_failed", customer="cus_1", subscription="sub_1"),
        )

    assert len(fake_stripe.calls("GET", "/v1/subscriptions/sub_1")) == 3
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert _subscription_of(tenant).status == SubscriptionStatus.PAST_DUE


def test_a_permanent_stripe_error_marks_the_event_failed(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    make_subscription(tenant, "pro", stripe_customer_id="cus_1", stripe_subscription_id="sub_1")
    # Stripe does not know sub_1 (404 resource_missing): not worth retrying.
    with commit():
        post_event(
            public_client, invoice_event("invoice.paid", customer="cus_1", subscription="sub_1")
        )

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.FAILED
    assert "No such subscription" in event.error
    assert _subscription_of(tenant).status == SubscriptionStatus.ACTIVE


def test_unknown_price_keeps_the_plan_and_copies_the_rest(
    public_client, fake_stripe, eager_celery, commit, tenant
):
    make_subscription(tenant, "pro", stripe_customer_id="cus_1", stripe_subscription_id="sub_1")
    sub = fake_stripe.add_subscription(
        "sub_1",
        customer="cus_1",
        plan="price_from_another_product",
        status="trialing",
        trial_end=1_790_000_000,
        cancel_at_period_end=True,
        quantity=7,
    )

    with commit():
        post_event(public_client, subscription_event(sub, "customer.subscription.updated"))

    local = _subscription_of(tenant)
    assert local.plan.code == "pro"
    assert local.status == SubscriptionStatus.TRIALING
    assert local.cancel_at_period_end is True
    assert local.trial_ends_at == datetime.datetime.fromtimestamp(1_790_000_000, tz=datetime.UTC)
    assert local.seats_synced == 7
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED


# --- signed but unusable references -------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        ("cus_" + "x" * 300, "customer reference is longer than 255 characters"),
        (12345, "customer reference is not a string"),
        (["cus_1"], "customer reference is not a string"),
        ({"id": "cus_" + "x" * 300}, "customer reference is longer than 255 characters"),
    ],
    ids=["long", "number", "list", "expanded-long"],
)
def test_an_unusable_reference_marks_the_event_failed_and_the_sweep_leaves_it(
    public_client, fake_stripe, eager_celery, commit, tenant, customer, reason
):
    """A signed checkout naming our organization with a customer id that
    cannot be stored used to raise in processing (DataError on save): the
    event stayed pending and the hourly sweep queued it again forever."""
    make_subscription(tenant, "pro")
    fake_stripe.add_subscription("sub_new", customer="cus_ok", status="active")
    body, header = checkout_completed(
        organization_id=tenant.pk, customer="placeholder", subscription="sub_new"
    )
    import json

    import stripe

    from .fake_stripe import WEBHOOK_SECRET

    event = json.loads(body)
    event["data"]["object"]["customer"] = customer
    text = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(text, WEBHOOK_SECRET)
    with commit():
        expect(post_event(public_client, (text.encode(), header)), 200)

    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEventStatus.FAILED
    assert reason in stored.error
    assert _subscription_of(tenant).stripe_customer_id is None
    later = datetime.datetime.now(datetime.UTC) + dunning.STALE_PENDING_EVENT * 2
    assert dunning.dunning_sweep(now=later).requeued == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("metadata", "not an object"), ("parent", ["x"]), ("trial_end", "soon")],
)
def test_an_object_field_of_the_wrong_shape_marks_the_event_failed(
    public_client, fake_stripe, eager_celery, commit, tenant, field, value
):
    make_subscription(tenant, "pro", stripe_customer_id="cus_1", stripe_subscription_id="sub_1")
    fake_stripe.add_subscription("sub_1", customer="cus_1", status="active")
    event_type = "invoice.paid" if field == "parent" else "customer.subscription.trial_will_end"
    obj: dict[str, Any] = {"id": "sub_1", "object": "subscription", "customer": "cus_1"}
    obj[field] = value
    with commit():
        expect(post_event(public_client, signed_event(event_type, obj)), 200)

    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEventStatus.FAILED, stored.error
    assert field in stored.error


def test_a_delivery_is_verified_and_parsed_once(public_client, fake_stripe, monkeypatch, tenant):
    """verify_header, then the body through the API's reader; Stripe's
    construct_event (which verifies and parses again) is not used."""
    import stripe

    verified: list[Any] = []
    real_verify = stripe.WebhookSignature.verify_header

    def verify_header(*args: Any, **kwargs: Any) -> Any:
        verified.append(args)
        return real_verify(*args, **kwargs)

    def construct_event(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("verified and parsed a second time")

    monkeypatch.setattr(stripe.WebhookSignature, "verify_header", verify_header)
    monkeypatch.setattr(stripe.Webhook, "construct_event", construct_event)
    response = post_event(public_client, signed_event("invoice.paid", {"id": "in_1"}))
    expect(response, 200)
    assert len(verified) == 1
    assert WebhookEvent.objects.get().type == "invoice.paid"
