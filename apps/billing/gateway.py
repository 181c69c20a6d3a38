"""The one place NovaTime talks to Stripe: a configured ``stripe.StripeClient``.

Every outgoing call goes through :func:`stripe_client`, so there is exactly one
seam for the HTTP transport: tests install an ``stripe.HTTPClient`` subclass
with :func:`use_http_client` that answers like Stripe and records what was
sent; the real ``StripeClient`` (request encoding, headers, idempotency keys,
error mapping) runs unchanged above it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from apps.common.errors import ApplicationError

logger = logging.getLogger(__name__)

#: Network retries done by stripe itself (it reuses one idempotency key across them).
MAX_NETWORK_RETRIES = 2

#: Errors worth retrying later (Celery backoff): the network, Stripe's side, rate limits.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
)

_http_client: stripe.HTTPClient | None = None


class BillingNotConfiguredError(ApplicationError):
    """Stripe keys (or the plan's price) are not configured: 503, not a 500."""

    status_code = 503
    code = "billing_not_configured"


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    """A client with the configured secret key (503 ``billing_not_configured`` without)."""
    if not is_configured():
        raise BillingNotConfiguredError(
            "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)."
        )
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        http_client=_http_client,
        max_network_retries=MAX_NETWORK_RETRIES,
    )


def webhook_secret() -> str:
    secret: str = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BillingNotConfiguredError(
            "Stripe webhooks are not configured on this server (STRIPE_WEBHOOK_SECRET is not set)."
        )
    return secret


@contextmanager
def use_http_client(http_client: stripe.HTTPClient) -> Iterator[stripe.HTTPClient]:
    """Route every Stripe call made inside the block through ``http_client``."""
    global _http_client
    previous, _http_client = _http_client, http_client
    try:
        yield http_client
    finally:
        _http_client = previous


def as_dict(obj: Any) -> dict[str, Any]:
    """A Stripe object (or plain dict) as nested plain dicts."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(obj or {})
