"""Writes of the AI services: model training, automation rules and their runs."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.billing.selectors import feature_enabled
from apps.common.errors import PaymentRequiredError
from apps.organizations.models import Membership, Organization
from tenants.db import current_schema
from tenants.locks import tenant_xact_lock

from . import suggestions
from .constants import (
    KEPT_MODEL_VERSIONS,
    MAX_TRAINING_ENTRIES,
    MIN_TRAINING_ENTRIES,
    RETRAIN_AFTER_NEW_ENTRIES,
    TRAINING_DEBOUNCE_SECONDS,
)
from .models import AutomationRule, SuggestionModel

logger = logging.getLogger(__name__)


# --- plan gating -------------------------------------------------------------------


def ai_feature_check(organization: Organization) -> None:
    """402 ``feature_not_in_plan`` unless the organization's plan includes AI
    (billing owns the answer; an organization without a subscription row is
    unmanaged and has every feature)."""
    if not feature_enabled(organization, "ai"):
        raise PaymentRequiredError(
            "Your plan does not include AI features.", code="feature_not_in_plan"
        )


# --- suggestion model training -----------------------------------------------------


def _training_rows(limit: int) -> list[dict[str, Any]]:
    from apps.time_entries.models import TimeEntry

    return list(
        TimeEntry.objects.filter(ended_at__isnull=False, project__deleted_at__isnull=True)
        .order_by("-started_at")
        .values("user_id", "project_id", "task_id", "description", "tags", "started_at")[:limit]
    )


def suggestion_model_needs_training() -> bool:
    """Whether this organization has enough new entries since its model (or
    enough entries at all, for a first model). Bounded counts (LIMIT)."""
    from apps.time_entries.models import TimeEntry

    latest = SuggestionModel.objects.order_by("-version").values("newest_entry_at").first()
    entries = TimeEntry.objects.filter(ended_at__isnull=False)
    if latest is None:
        return entries[:MIN_TRAINING_ENTRIES].count() >= MIN_TRAINING_ENTRIES
    if latest["newest_entry_at"] is not None:
        entries = entries.filter(created_at__gt=latest["newest_entry_at"])
    return entries[:RETRAIN_AFTER_NEW_ENTRIES].count() >= RETRAIN_AFTER_NEW_ENTRIES


def suggestion_model_train(*, now: datetime.datetime | None = None) -> SuggestionModel | None:
    """Train and store a new version of this organization's model.

    Only this schema's entries are read and the row is written into this
    schema. A transaction-level advisory lock makes concurrent trainings of
    one organization run one after the other (the second sees the first's
    version and numbers itself after it). ``None`` when there is too little
    history (the cold path keeps answering).
    """
    now = now or timezone.now()
    rows = _training_rows(MAX_TRAINING_ENTRIES)
    if len(rows) < MIN_TRAINING_ENTRIES:
        logger.info("ai.train_skipped", extra={"entries": len(rows)})
        return None
    from apps.time_entries.models import TimeEntry

    newest = TimeEntry.objects.aggregate(m=Max("created_at"))["m"]
    try:
        model = suggestions.fit(rows, now=now)
    except ValueError:
        return None
    with transaction.atomic():
        tenant_xact_lock("ai:suggestion-model")
        version = (SuggestionModel.objects.aggregate(m=Max("version"))["m"] or 0) + 1
        blob, signature = suggestions.pack(model, schema_name=current_schema(), version=version)
        row = SuggestionModel.objects.create(
            version=version,
            trained_at=now,
            entry_count=len(rows),
            newest_entry_at=newest,
            algorithm=suggestions.ALGORITHM,
            blob=blob,
            signature=signature,
            stats={
                "labels": len(model.labels),
                "rows": int(model.matrix.shape[0]),
                "features": int(model.matrix.shape[1]),
                "bytes": len(blob),
            },
        )
        keep = SuggestionModel.objects.order_by("-version").values_list("pk", flat=True)[
            :KEPT_MODEL_VERSIONS
        ]
        SuggestionModel.objects.exclude(pk__in=list(keep)).delete()
    logger.info("ai.trained", extra={"version": version, "entries": len(rows)})
    return row


def suggestion_model_schedule_training() -> bool:
    """Queue one training of this organization in ``TRAINING_DEBOUNCE_SECONDS``.

    Debounced: while one is queued (a Redis key with a TTL), further calls do
    nothing, so a burst of new entries costs one training. Sent after commit
    (tenant-schemas-celery carries the schema). Returns whether it queued.
    """
    key = f"ai:train-queued:{current_schema()}"
    if not cache.add(key, 1, timeout=TRAINING_DEBOUNCE_SECONDS * 2):
        return False
    from .tasks import train_suggestion_model

    transaction.on_commit(
        lambda: train_suggestion_model.apply_async(countdown=TRAINING_DEBOUNCE_SECONDS)
    )
    return True


def suggestion_model_maybe_schedule() -> None:
    """Called after a suggestion is served: at most once a minute per
    organization, check whether a retrain is due and queue it."""
    if not cache.add(f"ai:train-check:{current_schema()}", 1, timeout=60):
        return
    if suggestion_model_needs_training():
        suggestion_model_schedule_training()


# --- automation rules ----------------------------------------------------------------


@transaction.atomic
def rule_create(
    *, actor: Membership, kind: str, params: dict[str, object], enabled: bool = True, name: str = ""
) -> AutomationRule:
    return AutomationRule.objects.create(
        kind=kind, params=params, enabled=enabled, name=name, created_by_id=actor.user_id
    )


@transaction.atomic
def rule_update(*, rule: AutomationRule, **changes: object) -> AutomationRule:
    rule = AutomationRule.objects.select_for_update().get(pk=rule.pk)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.save(update_fields=[*changes, "updated_at"])
    return rule


@transaction.atomic
def rule_delete(*, rule: AutomationRule) -> None:
    rule.soft_delete()
