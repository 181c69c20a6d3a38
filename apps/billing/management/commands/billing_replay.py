"""``manage.py billing_replay [--event ID ...] [--since ISO] [--status S] [--dry-run]``

Re-processes stored Stripe events in the order Stripe created them. Each event
is a trigger that re-reads the subscription from Stripe, so replaying is safe:
the result is the current Stripe state, whatever the events said.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.billing import webhooks
from apps.billing.constants import WebhookEventStatus
from apps.billing.models import WebhookEvent


class Command(BaseCommand):
    help = "Re-process stored Stripe webhook events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--event", action="append", default=[], help="Stripe event id (repeatable)"
        )
        parser.add_argument("--since", help="events received since (ISO date or datetime)")
        parser.add_argument(
            "--status",
            action="append",
            choices=WebhookEventStatus.values,
            help="only events with this status (repeatable; default: all)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list, do not process")

    def handle(self, *args: Any, **options: Any) -> None:
        events = WebhookEvent.objects.all()
        if options["event"]:
            events = events.filter(stripe_event_id__in=options["event"])
            missing = set(options["event"]) - set(events.values_list("stripe_event_id", flat=True))
            if missing:
                raise CommandError(f"unknown_event: {', '.join(sorted(missing))}")
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None:
                day = parse_date(options["since"])
                if day is None:
                    raise CommandError(f"invalid_since: {options['since']!r} is not an ISO date")
                since = datetime.datetime(day.year, day.month, day.day)
            if timezone.is_naive(since):
                since = timezone.make_aware(since, datetime.UTC)
            events = events.filter(created_at__gte=since)
        if options["status"]:
            events = events.filter(status__in=options["status"])
        if not options["event"] and not options["since"]:
            raise CommandError("missing_filter: give --event ID or --since DATE")
        events = events.order_by("stripe_created_at", "created_at")
        counts: dict[str, int] = {}
        for event in events:
            if options["dry_run"]:
                self.stdout.write(f"{event.stripe_event_id} {event.type} {event.status}")
                continue
            webhooks.webhook_event_reset(event=event)
            result = webhooks.webhook_event_process(event_pk=event.pk)
            counts[result.status] = counts.get(result.status, 0) + 1
            self.stdout.write(f"{event.stripe_event_id} {event.type} → {result.status}")
        if not options["dry_run"]:
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing"
            self.stdout.write(self.style.SUCCESS(f"replayed ({summary})"))
