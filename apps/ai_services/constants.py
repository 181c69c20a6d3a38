"""Enums and limits of the AI services."""

from django.db import models

#: Longest ``description`` accepted by suggestions (characters); longer → 400.
MAX_DESCRIPTION_LENGTH = 500
#: Longest ``text`` accepted by the natural-language parser (characters).
MAX_PARSE_LENGTH = 500
#: A tenant with fewer usable entries than this gets frequency rules, not a model.
MIN_TRAINING_ENTRIES = 30
#: New entries since the last model before a retrain is worth its cost.
RETRAIN_AFTER_NEW_ENTRIES = 50
#: Newest entries a model learns from (bounds training time and model size).
MAX_TRAINING_ENTRIES = 50_000
#: Seconds a training request waits for more requests before it runs (debounce).
TRAINING_DEBOUNCE_SECONDS = 60
#: Model versions kept per tenant (the newest serves; one older for rollback).
KEPT_MODEL_VERSIONS = 2
#: Longest summary period (days); longer → 400.
MAX_SUMMARY_DAYS = 366


class RuleKind(models.TextChoices):
    AUTO_STOP_TIMERS_AT = "auto_stop_timers_at", "Stop running timers at a local time"
    AUTO_SUBMIT_TIMESHEETS = "auto_submit_timesheets", "Submit draft timesheets at period end"
    REMIND_MISSING_DAYS = "remind_missing_days", "Remind members of working days without time"
    AUTO_TAG_BY_KEYWORD = "auto_tag_by_keyword", "Tag entries whose description has a keyword"


class RunStatus(models.TextChoices):
    OK = "ok", "Succeeded"
    FAILED = "failed", "Failed"


class InsightKind(models.TextChoices):
    FORGOTTEN_TIMER = "forgotten_timer", "Forgotten timer"
    OVERLAP = "overlap", "Overlapping entries"
    LONG_DAY = "long_day", "Unusually long day"
    MISSING_DAY = "missing_day", "Working day without time"
    BUDGET_BURN = "budget_burn", "Budget will be exceeded"
    MISSING_TIMESHEET = "missing_timesheet", "Timesheet not submitted"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
