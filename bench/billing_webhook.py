"""Stripe webhook ingest latency at the server: signature check + store + enqueue.

    .venv/bin/python -m bench.billing_webhook [--events 2000] [--duplicates 300]

Target (issue #8): p95 <= 20 ms for ``POST /webhooks/stripe/`` → 2xx.

Drives the full Django stack in-process (test client on the public host, every
middleware) with payloads signed by stripe's own helper, on a fresh database
``<db>_bench_billing``. The enqueue is real: ``process_webhook_event.delay``
publishes to the Redis broker after commit (no worker consumes it during the
run, so processing cost is not in the figure; the queue is purged at the end).
Each event names a customer that has a subscription, like real traffic.
``DJANGO_DEBUG=0`` (production-like) unless set otherwise.
Results: stdout and var/bench/billing_webhook.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.common import Timer, prepare_database, summary, write_result

SECRET = "whsec_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--duplicates", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    os.environ.setdefault("NOVATIME_ENV_PREFIX", "novatime-bench-billing")
    os.environ.setdefault("DJANGO_DEBUG", "0")  # as in production (no query log)
    os.environ["STRIPE_WEBHOOK_SECRET"] = SECRET
    os.environ["STRIPE_SECRET_KEY"] = "sk_test_bench"
    prepare_database("bench_billing")

    import stripe
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.billing.models import Plan, Subscription, WebhookEvent
    from config.celery import app as celery_app
    from tenants.provisioning import provision_tenant

    org = provision_tenant(slug="acme", name="Acme", method="template").tenant
    Subscription.objects.create(
        organization=org,
        plan=Plan.objects.get(code="pro"),
        status="active",
        stripe_customer_id="cus_bench",
        stripe_subscription_id="sub_bench",
    )
    client = Client(HTTP_HOST=settings.NOVATIME_BASE_DOMAIN)

    def signed(n: int) -> tuple[str, str]:
        body = json.dumps(
            {
                "id": f"evt_bench_{n}",
                "object": "event",
                "api_version": stripe.api_version,
                "created": int(time.time()),
                "livemode": False,
                "type": "invoice.paid",
                "data": {
                    "object": {
                        "id": f"in_bench_{n}",
                        "object": "invoice",
                        "customer": "cus_bench",
                        "amount_paid": 900,
                        "parent": {
                            "type": "subscription_details",
                            "subscription_details": {"subscription": "sub_bench"},
                        },
                    }
                },
            }
        )
        return body, stripe.WebhookSignature.generate_signature_header(body, SECRET)

    cpu_ms: list[float] = []

    def post(body: str, header: str) -> tuple[float, int]:
        cpu_before = time.process_time()
        with CaptureQueriesContext(connection) as queries, Timer() as t:
            response = client.post(
                "/webhooks/stripe/",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
        cpu_ms.append((time.process_time() - cpu_before) * 1000)
        assert response.status_code == 200, response.content
        return t.ms, len(queries)

    for n in range(args.warmup):
        post(*signed(-1 - n))
    cpu_ms.clear()
    load_before = os.getloadavg()[0]
    new = [post(*signed(n)) for n in range(args.events)]
    cpu_new = list(cpu_ms)
    dup = [post(*signed(n % args.events)) for n in range(args.duplicates)]
    stored = WebhookEvent.objects.filter(stripe_event_id__startswith="evt_bench_").count()

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with celery_app.connection_for_write() as conn:
        purged = conn.default_channel.queue_purge(queue)

    result = {
        "endpoint": "POST /webhooks/stripe/ (verify + store + enqueue on Redis)",
        "events": {"new": len(new), "duplicates": len(dup), "warmup": args.warmup},
        "rows_stored": stored,
        "tasks_enqueued_and_purged": purged,
        "latency_new": summary([m for m, _ in new]),
        "latency_duplicate": summary([m for m, _ in dup]),
        # CPU time of this (server) process per new event: the part that does
        # not depend on how busy the machine is (the DB and Redis work is not in it).
        "server_cpu_new": summary(cpu_new),
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "queries_per_new_event_max": max(q for _, q in new),
        "queries_per_duplicate_max": max(q for _, q in dup),
        "target_p95_ms": 20,
    }
    path = write_result("billing_webhook", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
