"""Signals the organizations services send for other apps (billing seat sync…)."""

from django.dispatch import Signal

#: A membership was created, changed role/status, or removed.
#: kwargs: organization_id, user_id, action ("added" | "role_changed" | "removed").
membership_changed = Signal()
