"""Billing test fixtures: Stripe configured against ``FakeStripe`` (eager Celery is
the root conftest's ``eager_celery``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.billing import gateway
from apps.billing.constants import SubscriptionStatus
from apps.billing.models import Plan, Subscription

from .fake_stripe import PRICES, WEBHOOK_SECRET, FakeStripe

WEBHOOK_URL = "/webhooks/stripe/"


@pytest.fixture
def stripe_settings(settings: Any) -> Any:
    settings.STRIPE_SECRET_KEY = "sk_test_novatime"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICES = dict(PRICES)
    return settings


@pytest.fixture
def fake_stripe(stripe_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """Stripe configured; every outgoing call answered by ``FakeStripe``.
    stripe's own network retries are off so a failure reaches our retry logic."""
    monkeypatch.setattr(gateway, "MAX_NETWORK_RETRIES", 0)
    with gateway.use_http_client(FakeStripe()) as fake:
        yield fake  # type: ignore[misc]


def make_subscription(organization: Any, plan: str = "free", **fields: Any) -> Subscription:
    fields.setdefault("status", SubscriptionStatus.ACTIVE)
    return Subscription.objects.create(
        organization=organization, plan=Plan.objects.get(code=plan), **fields
    )


def post_event(client: Any, signed: tuple[bytes, str]) -> Any:
    body, header = signed
    return client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
