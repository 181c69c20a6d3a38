"""Celery tasks of the realtime server.

``websocket_server.presence_sweep`` announces ``offline`` for users whose
sockets all expired without saying goodbye (a crashed server) in
organizations where no live socket runs the sweep itself. It works on Redis
only (no tenant schema is touched), so it iterates the serving organizations'
schema names from the public schema. Schedule it every minute (beat entry in
the settings).
"""

from __future__ import annotations

import logging

from celery import shared_task

from apps.organizations.constants import SERVING_STATUSES
from apps.organizations.models import Organization

from . import presence
from .events import send_event

logger = logging.getLogger(__name__)


@shared_task(name="websocket_server.presence_sweep", ignore_result=True)
def presence_sweep() -> int:
    """Sweep every serving organization; returns how many users went offline."""
    announced = 0
    schemas = Organization.objects.filter(status__in=SERVING_STATUSES).values_list(
        "schema_name", flat=True
    )
    for schema in schemas.iterator():
        try:
            changes = presence.sweep_sync(schema_name=schema)
            if changes:
                users = [{"user": c.user_id, "state": c.state} for c in changes]
                send_event(schema_name=schema, type="presence", op="updated", data={"users": users})
                announced += len(changes)
        except Exception:
            logger.exception("presence sweep of %s failed", schema)
    return announced
