"""Trial on signup, seat sync, dunning (payment failure → grace → suspension →
payment → resume), the replay command and the admin console."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.billing import dunning, services, tasks
from apps.billing.constants import SubscriptionStatus, WebhookEventStatus
from apps.billing.models import Subscription, WebhookEvent
from apps.common.testing import expect, otp_force_login
from apps.organizations.models import Organization
from apps.organizations.signals import membership_changed, organization_status_changed
from apps.organizations.tests.factories import MembershipFactory, client_as
from config.celery import app as celery_app
from tenants.provisioning import set_tenant_status
from tenants.resolution import cache_key

from .conftest import make_subscription, post_event
from .fake_stripe import invoice_event, subscription_event

pytestmark = pytest.mark.django_db


# --- trial on signup -----------------------------------------------------------------


def test_signup_starts_a_pro_trial(public_client, commit, settings, monkeypatch):
    settings.NOVATIME_TRIAL_DAYS = 14
    monkeypatch.setattr(tasks, "schedule_seat_sync", lambda org_id: True)
    before = timezone.now()
    with commit():
        response = public_client.post(
            "/api/v1/signup/",
            {
                "organization_name": "Initech",
                "slug": "initech-bill",
                "email": "peter@initech.test",
                "password": "tps reports 4ever",
            },
            format="json",
        )
    expect(response, 201)

    sub = Subscription.objects.select_related("plan").get(organization__slug="initech-bill")
    assert (sub.plan.code, sub.status, sub.seats) == ("pro", SubscriptionStatus.TRIALING, 1)
    delta = sub.trial_ends_at - before
    assert datetime.timedelta(days=14) <= delta < datetime.timedelta(days=14, minutes=1)
    assert sub.organization.status == "trialing"


def test_no_trial_for_template_or_pool_rows():
    template = Organization.objects.get(status="template")
    assert services.subscription_ensure(organization_id=template.pk) is None
    assert not Subscription.objects.filter(organization=template).exists()


def test_a_second_member_does_not_restart_the_trial(tenant, monkeypatch):
    monkeypatch.setattr(tasks, "schedule_seat_sync", lambda org_id: True)
    sub = make_subscription(tenant, "free")
    membership_changed.send(sender=None, organization_id=tenant.pk, user_id=None, action="added")
    assert Subscription.objects.get(organization=tenant).pk == sub.pk
    assert Subscription.objects.get(organization=tenant).plan.code == "free"


def test_ended_trial_without_payment_falls_back_to_free(tenant, mailoutbox):
    make_subscription(
        tenant,
        "pro",
        status=SubscriptionStatus.TRIALING,
        trial_ends_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    MembershipFactory(organization=tenant, role="owner")
    set_tenant_status(tenant, "trialing")

    result = dunning.dunning_sweep()

    sub = Subscription.objects.select_related("plan").get(organization=tenant)
    assert (sub.plan.code, sub.status) == ("free", SubscriptionStatus.ACTIVE)
    assert result.trials_ended == 1
    tenant.refresh_from_db()
    assert tenant.status == "active"


# --- seat sync ------------------------------------------------------------------------


def _linked(tenant: Any, fake: Any, quantity: int = 1, **kw: Any) -> Subscription:
    fake.add_subscription("sub_1", customer="cus_1", quantity=quantity)
    return make_subscription(
        tenant,
        "pro",
        stripe_customer_id="cus_1",
        stripe_subscription_id="sub_1",
        stripe_item_id="si_sub_1",
        seats_synced=quantity,
        **kw,
    )


def test_membership_changes_are_debounced_into_one_queued_sync(
    tenant, monkeypatch, commit, fake_stripe
):
    queued: list[tuple] = []
    monkeypatch.setattr(
        tasks.sync_seats, "apply_async", lambda args, countdown: queued.append((args, countdown))
    )
    _linked(tenant, fake_stripe)
    cache.delete(tasks._seat_sync_key(tenant.pk))

    with commit():
        for _ in range(3):
            MembershipFactory(organization=tenant)
            membership_changed.send(
                sender=None, organization_id=tenant.pk, user_id=None, action="added"
            )

    assert queued == [((str(tenant.pk),), tasks.SEAT_SYNC_DEBOUNCE_SECONDS)]


def test_seat_sync_updates_the_item_with_proration_and_an_idempotency_key(
    tenant, fake_stripe, eager_celery
):
    _linked(tenant, fake_stripe, quantity=1)
    MembershipFactory.create_batch(3, organization=tenant)

    result = tasks.sync_seats.apply(args=(str(tenant.pk),), task_id="task-123")

    assert result.get() == 3
    [call] = fake_stripe.requests
    assert (call.method, call.path) == ("POST", "/v1/subscription_items/si_sub_1")
    assert call.params == {"quantity": "3", "proration_behavior": "create_prorations"}
    assert call.headers["Idempotency-Key"] == "novatime-seats:task-123:si_sub_1:3"
    sub = Subscription.objects.get(organization=tenant)
    assert (sub.seats, sub.seats_synced) == (3, 3)


def test_seat_sync_without_a_change_calls_nothing(tenant, fake_stripe):
    _linked(tenant, fake_stripe, quantity=2)
    MembershipFactory.create_batch(2, organization=tenant)
    tasks.sync_seats.apply(args=(str(tenant.pk),))
    assert fake_stripe.requests == []


def test_membership_changes_of_an_organization_stripe_does_not_bill_count_in_place(
    tenant, monkeypatch, commit, fake_stripe
):
    queued: list[Any] = []
    monkeypatch.setattr(tasks.sync_seats, "apply_async", lambda *a, **kw: queued.append(a))
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING, seats=1)
    MembershipFactory.create_batch(3, organization=tenant)
    MembershipFactory(organization=tenant, status="deactivated")

    with commit():
        membership_changed.send(
            sender=None, organization_id=tenant.pk, user_id=None, action="added"
        )

    assert Subscription.objects.get(organization=tenant).seats == 3
    assert queued == [] and fake_stripe.requests == []


def test_seat_sync_of_a_trial_without_stripe_only_counts(tenant, fake_stripe):
    make_subscription(tenant, "pro", status=SubscriptionStatus.TRIALING)
    MembershipFactory.create_batch(2, organization=tenant)
    tasks.sync_seats.apply(args=(str(tenant.pk),))
    assert fake_stripe.requests == []
    assert Subscription.objects.get(organization=tenant).seats == 2


def test_seat_sync_retries_stripe_errors_with_the_same_idempotency_key(
    tenant, fake_stripe, eager_celery, monkeypatch
):
    celery_app.conf.task_eager_propagates = False  # restored by eager_celery
    monkeypatch.setattr(tasks.sync_seats, "retry_backoff", 0)
    monkeypatch.setattr(tasks.sync_seats, "retry_jitter", False)
    _linked(tenant, fake_stripe, quantity=1)
    MembershipFactory.create_batch(2, organization=tenant)
    fake_stripe.fail_next(2, status=503)

    tasks.sync_seats.apply(args=(str(tenant.pk),), task_id="task-9")

    calls = fake_stripe.calls("POST", "/v1/subscription_items/")
    assert len(calls) == 3
    assert {c.headers["Idempotency-Key"] for c in calls} == {"novatime-seats:task-9:si_sub_1:2"}
    assert Subscription.objects.get(organization=tenant).seats_synced == 2


# --- dunning: failure → grace → suspension → payment → resume -----------------------------


def test_payment_failure_grace_suspension_and_resume(
    tenant, fake_stripe, eager_celery, commit, public_client, settings, mailoutbox
):
    settings.NOVATIME_PAST_DUE_GRACE_DAYS = 7
    _linked(tenant, fake_stripe)
    MembershipFactory(organization=tenant, role="owner", user__email="boss@acme.test")
    member = client_as(tenant, "manager")
    expect(member.get("/api/v1/projects/"), 200)  # warms the host cache

    # 1. the payment fails: past due, still writable
    fake_stripe.add_subscription("sub_1", customer="cus_1", status="past_due")
    with commit():
        post_event(
            public_client,
            invoice_event("invoice.payment_failed", customer="cus_1", subscription="sub_1"),
        )
    sub = Subscription.objects.get(organization=tenant)
    assert sub.status == SubscriptionStatus.PAST_DUE and sub.past_due_since is not None
    tenant.refresh_from_db()
    assert tenant.status == "past_due"
    expect(member.post("/api/v1/projects/", {"name": "Still fine"}, format="json"), 201)

    # 2. the hourly sweep warns (once a day), then suspends after the grace period
    with commit():
        assert dunning.dunning_sweep().warned == 1
        assert dunning.dunning_sweep().warned == 0
    assert [m.to for m in mailoutbox] == [["boss@acme.test"]]
    assert "read-only on" in mailoutbox[0].body
    later = timezone.now() + datetime.timedelta(days=7, minutes=1)
    with commit():
        assert dunning.dunning_sweep(now=later).suspended == 1
    tenant.refresh_from_db()
    assert tenant.status == "suspended"
    assert Subscription.objects.get(organization=tenant).suspended_by_billing is True

    # 3. suspended: reads work, writes get 402 subscription_inactive, billing stays reachable
    expect(member.get("/api/v1/projects/"), 200)
    expect(
        member.post("/api/v1/projects/", {"name": "Nope"}, format="json"),
        402,
        "subscription_inactive",
    )
    owner = client_as(tenant, "owner")
    expect(owner.post("/api/v1/billing/portal/"), 200)

    # 4. the customer pays: active again, writes resume on the next request
    fake_stripe.add_subscription("sub_1", customer="cus_1", status="active")
    with commit():
        post_event(
            public_client, invoice_event("invoice.paid", customer="cus_1", subscription="sub_1")
        )
    tenant.refresh_from_db()
    assert tenant.status == "active"
    sub = Subscription.objects.get(organization=tenant)
    assert (sub.status, sub.past_due_since, sub.suspended_by_billing) == ("active", None, False)
    expect(member.post("/api/v1/projects/", {"name": "Back"}, format="json"), 201)


@pytest.mark.parametrize(
    ("stripe_status", "org_status"), [("unpaid", "suspended"), ("canceled", "cancelled")]
)
def test_unpaid_or_cancelled_makes_the_organization_read_only_at_once(
    tenant, fake_stripe, eager_celery, commit, public_client, stripe_status, org_status
):
    _linked(tenant, fake_stripe)
    client = client_as(tenant, "manager")
    expect(client.get("/api/v1/projects/"), 200)
    assert cache.get(cache_key("acme.localhost")) is not None  # cached as active
    sub = fake_stripe.add_subscription("sub_1", customer="cus_1", status=stripe_status)
    event = (
        "customer.subscription.deleted"
        if stripe_status == "canceled"
        else "customer.subscription.updated"
    )

    sent: list[dict[str, Any]] = []

    def receive(sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs)

    organization_status_changed.connect(receive)
    try:
        with commit():
            post_event(public_client, subscription_event(sub, event))
    finally:
        organization_status_changed.disconnect(receive)

    tenant.refresh_from_db()
    assert tenant.status == org_status
    assert cache.get(cache_key("acme.localhost")) is None  # the status change dropped it
    # After commit, the WebSocket server hears of it (and closes the sockets).
    assert [(s["organization_id"], s["status"], s["previous"]) for s in sent] == [
        (tenant.pk, org_status, "active")
    ]
    expect(
        client.post("/api/v1/projects/", {"name": "x"}, format="json"), 402, "subscription_inactive"
    )
    expect(client.get("/api/v1/projects/"), 200)


def test_an_operator_suspension_is_not_lifted_by_a_payment(
    tenant, fake_stripe, eager_celery, commit, public_client
):
    _linked(tenant, fake_stripe)
    set_tenant_status(tenant, "suspended")  # by an operator (tenants suspend / admin)
    client = client_as(tenant, "manager")
    expect(
        client.post("/api/v1/projects/", {"name": "x"}, format="json"), 402, "organization_inactive"
    )

    with commit():
        post_event(
            public_client, invoice_event("invoice.paid", customer="cus_1", subscription="sub_1")
        )

    tenant.refresh_from_db()
    assert tenant.status == "suspended"
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED


def test_trial_will_end_emails_owners_and_admins(
    tenant, fake_stripe, eager_celery, commit, public_client, mailoutbox
):
    _linked(tenant, fake_stripe)
    MembershipFactory(organization=tenant, role="owner", user__email="o@acme.test")
    MembershipFactory(organization=tenant, role="admin", user__email="a@acme.test")
    MembershipFactory(organization=tenant, role="member", user__email="m@acme.test")
    sub = fake_stripe.add_subscription(
        "sub_1", customer="cus_1", status="trialing", trial_end=1_790_000_000
    )

    with commit():
        post_event(public_client, subscription_event(sub, "customer.subscription.trial_will_end"))

    [message] = mailoutbox
    assert sorted(message.to) == ["a@acme.test", "o@acme.test"]
    assert "trial" in message.subject.lower()


# --- lost events, replay ----------------------------------------------------------------


def test_the_sweep_requeues_events_that_were_never_queued(monkeypatch):
    queued: list[Any] = []
    monkeypatch.setattr(dunning, "webhook_event_enqueue", queued.append)
    old = WebhookEvent.objects.create(stripe_event_id="evt_old", type="invoice.paid", payload={})
    WebhookEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=30)
    )
    WebhookEvent.objects.create(stripe_event_id="evt_new", type="invoice.paid", payload={})

    assert dunning.dunning_sweep().requeued == 1
    assert queued == [old.pk]


def test_replay_command_reprocesses_an_event_from_current_stripe_state(
    tenant, fake_stripe, eager_celery, commit, public_client
):
    _linked(tenant, fake_stripe)
    with commit():
        post_event(
            public_client, invoice_event("invoice.paid", customer="cus_1", subscription="sub_1")
        )
    event = WebhookEvent.objects.get()
    fake_stripe.add_subscription("sub_1", customer="cus_1", status="past_due")

    call_command("billing_replay", "--event", event.stripe_event_id)

    assert Subscription.objects.get(organization=tenant).status == SubscriptionStatus.PAST_DUE
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.attempts == 2


def test_replay_command_refuses_unknown_events_and_missing_filters():
    with pytest.raises(CommandError, match="unknown_event"):
        call_command("billing_replay", "--event", "evt_nope")
    with pytest.raises(CommandError, match="missing_filter"):
        call_command("billing_replay")
    with pytest.raises(CommandError, match="invalid_since"):
        call_command("billing_replay", "--since", "yesterday")


def test_replay_since_with_dry_run_lists_without_processing(capsys):
    WebhookEvent.objects.create(stripe_event_id="evt_a", type="invoice.paid", payload={})
    call_command("billing_replay", "--since", "2000-01-01", "--dry-run")
    assert "evt_a invoice.paid pending" in capsys.readouterr().out
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PENDING


# --- admin console ---------------------------------------------------------------------


def test_staff_see_events_with_payload_and_can_replay(
    client, admin_user, tenant, fake_stripe, settings
):
    _linked(tenant, fake_stripe)
    event = WebhookEvent.objects.create(
        stripe_event_id="evt_admin",
        type="invoice.paid",
        status=WebhookEventStatus.FAILED,
        error="boom",
        payload={
            "data": {
                "object": {
                    "customer": "cus_1",
                    "parent": {"subscription_details": {"subscription": "sub_1"}},
                }
            }
        },
    )
    otp_force_login(client, admin_user)  # the console wants a second factor

    page = client.get(f"/admin/billing/webhookevent/{event.pk}/change/", HTTP_HOST="localhost")
    assert page.status_code == 200
    assert b"sub_1" in page.content and b"boom" in page.content
    listing = client.get("/admin/billing/subscription/", HTTP_HOST="localhost")
    assert listing.status_code == 200 and b"Acme" in listing.content

    response = client.post(
        "/admin/billing/webhookevent/",
        {"action": "replay_events", "_selected_action": [str(event.pk)]},
        HTTP_HOST="localhost",
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.error) == (WebhookEventStatus.PROCESSED, "")
