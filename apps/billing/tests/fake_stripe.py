"""A Stripe API stand-in at the HTTP boundary, and signed webhook payloads.

``FakeStripe`` is a ``stripe.HTTPClient``: the real ``StripeClient`` encodes
requests, sets headers and idempotency keys, and maps errors; only the bytes
on the wire are answered here, like api.stripe.com would (the few endpoints
billing uses), and every request is recorded for exact assertions.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

WEBHOOK_SECRET = "whsec_test_novatime"
PRICES = {"pro": "price_pro_test", "business": "price_business_test"}
PERIOD_END = 1_800_000_000  # 2027-01-15T08:00:00Z


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe(stripe.HTTPClient):
    name = "fake-stripe"
    requests: list[Recorded] = field(default_factory=list)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (status, error body) answered to the next requests, first first.
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    # --- the HTTPClient interface ------------------------------------------------

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, dict[str, str]]:
        parts = urlsplit(url)
        raw = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        params = dict(parse_qsl(raw or "", keep_blank_values=True))
        self.requests.append(Recorded(method.upper(), parts.path, params, dict(headers or {})))
        if self.failures:
            status, body = self.failures.pop(0)
            return json.dumps(body), status, {"request-id": "req_fail"}
        status, body = self._route(method.upper(), parts.path, params)
        return json.dumps(body), status, {"request-id": f"req_{next(self._ids)}"}

    def close(self) -> None:
        pass

    # --- Stripe-shaped answers ---------------------------------------------------

    def _route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            sid = f"cs_test_{next(self._ids)}"
            return 200, {
                "id": sid,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "url": f"https://checkout.stripe.com/c/pay/{sid}",
            }
        if method == "POST" and path == "/v1/billing_portal/sessions":
            sid = f"bps_test_{next(self._ids)}"
            return 200, {
                "id": sid,
                "object": "billing_portal.session",
                "customer": params.get("customer"),
                "url": f"https://billing.stripe.com/p/session/{sid}",
            }
        if method == "GET" and path.startswith("/v1/subscriptions/"):
            sub = self.subscriptions.get(path.rsplit("/", 1)[1])
            return (200, sub) if sub else _missing("subscription")
        if method == "POST" and path.startswith("/v1/subscription_items/"):
            item_id = path.rsplit("/", 1)[1]
            for sub in self.subscriptions.values():
                for item in sub["items"]["data"]:
                    if item["id"] == item_id:
                        item["quantity"] = int(params["quantity"])
                        return 200, item
            return _missing("subscription_item")
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {path}"}}

    # --- test helpers -----------------------------------------------------------

    def add_subscription(
        self,
        sub_id: str,
        *,
        customer: str,
        status: str = "active",
        plan: str = "pro",
        quantity: int = 1,
        organization_id: Any = None,
        period_end: int = PERIOD_END,
        trial_end: int | None = None,
        cancel_at_period_end: bool = False,
    ) -> dict[str, Any]:
        """Create or replace a subscription as Stripe holds it (current API:
        the billing period is on the item)."""
        item_id = f"si_{sub_id}"
        sub = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": cancel_at_period_end,
            "trial_end": trial_end,
            "metadata": {"organization_id": str(organization_id)} if organization_id else {},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": item_id,
                        "object": "subscription_item",
                        "quantity": quantity,
                        "current_period_start": period_end - 30 * 86400,
                        "current_period_end": period_end,
                        "price": {"id": PRICES.get(plan, plan), "object": "price"},
                    }
                ],
            },
        }
        self.subscriptions[sub_id] = sub
        return sub

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def fail_next(self, times: int = 1, status: int = 500) -> None:
        body = {"error": {"type": "api_error", "message": "Stripe is having a moment."}}
        self.failures.extend([(status, body)] * times)


def _missing(kind: str) -> tuple[int, dict]:
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such {kind}",
        }
    }


_event_ids = itertools.count(1)


def signed_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, str]:
    """(raw body, ``Stripe-Signature`` header) signed with stripe's own helper."""
    body = json.dumps(
        {
            "id": event_id or f"evt_test_{next(_event_ids)}_{time.monotonic_ns()}",
            "object": "event",
            "api_version": stripe.api_version,
            "created": created or int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), header


def subscription_event(sub: dict[str, Any], event_type: str, **kw: Any) -> tuple[bytes, str]:
    return signed_event(event_type, dict(sub), **kw)


def checkout_completed(
    *, organization_id: Any, customer: str, subscription: str, **kw: Any
) -> tuple[bytes, str]:
    return signed_event(
        "checkout.session.completed",
        {
            "id": f"cs_test_done_{subscription}",
            "object": "checkout.session",
            "mode": "subscription",
            "client_reference_id": str(organization_id),
            "customer": customer,
            "subscription": subscription,
            "metadata": {"organization_id": str(organization_id)},
        },
        **kw,
    )


def invoice_event(
    event_type: str, *, customer: str, subscription: str, **kw: Any
) -> tuple[bytes, str]:
    return signed_event(
        event_type,
        {
            "id": f"in_test_{time.monotonic_ns()}",
            "object": "invoice",
            "customer": customer,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription, "metadata": {}},
            },
        },
        **kw,
    )
