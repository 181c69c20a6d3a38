"""End to end on a real Celery worker and Redis broker: the webhook view
commits the event, the after-commit hook publishes the task, a worker thread
consumes it and re-reads Stripe (through the fake HTTP client) — nothing eager."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connections

from apps.billing.constants import WebhookEventStatus
from apps.billing.models import Subscription, WebhookEvent
from config.celery import app as celery_app
from tenants.testing import TenantAPIClient

from .conftest import make_subscription, post_event
from .fake_stripe import invoice_event

pytestmark = pytest.mark.django_db


def _committed(work: Any) -> Any:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except Exception as exc:
            out["error"] = exc
        finally:
            connections.close_all()

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def test_a_delivered_event_is_processed_by_a_worker(tenant, fake_stripe, django_db_blocker):
    fake_stripe.add_subscription("sub_w", customer="cus_w", status="past_due")
    signed = invoice_event("invoice.payment_failed", customer="cus_w", subscription="sub_w")

    def event_state() -> tuple[str, str] | None:
        event = WebhookEvent.objects.filter(organization=tenant).first()
        sub = Subscription.objects.get(organization=tenant)
        return (event.status, sub.status) if event else None

    def cleanup() -> None:
        WebhookEvent.objects.filter(stripe_event_id__startswith="evt_test_").delete()
        Subscription.objects.filter(organization=tenant).delete()
        type(tenant).objects.filter(pk=tenant.pk).update(status="active")

    with django_db_blocker.unblock():
        try:
            _committed(
                lambda: make_subscription(
                    tenant,
                    "pro",
                    stripe_customer_id="cus_w",
                    stripe_subscription_id="sub_w",
                    stripe_item_id="si_sub_w",
                )
            )
            with start_worker(celery_app, pool="solo", perform_ping_check=False):
                response = _committed(lambda: post_event(TenantAPIClient(None), signed))
                assert response.status_code == 200
                deadline, state = time.monotonic() + 20, None
                while time.monotonic() < deadline:
                    state = _committed(event_state)
                    if state and state[0] != WebhookEventStatus.PENDING:
                        break
                    time.sleep(0.1)
        finally:
            _committed(cleanup)

    assert state == (WebhookEventStatus.PROCESSED, "past_due")
    assert [c.path for c in fake_stripe.calls("GET", "/v1/subscriptions/")] == [
        "/v1/subscriptions/sub_w"
    ]
