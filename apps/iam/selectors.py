"""Reads about a user that other apps share."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

#: A user's time zone while they have not chosen one (the model's default).
UNSET_TIMEZONE = "UTC"


def user_zone(
    *, user: AbstractBaseUser | AnonymousUser | None, fallback: str = ""
) -> zoneinfo.ZoneInfo:
    """The time zone a user sees times in: their own; a user still on the
    default ``UTC`` gets ``fallback`` (their organization's: most people never
    set theirs, their organization has). The one rule for the web pages
    (apps.iam.middleware) and the AI drafts (apps.ai_services.selectors).

    A user who wants UTC while their organization is elsewhere cannot have
    it: ``UTC`` means "not chosen" (the API's default value is kept).
    """
    name = getattr(user, "timezone", "") or UNSET_TIMEZONE
    if name == UNSET_TIMEZONE:
        name = fallback or UNSET_TIMEZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # Validated on every write; a zone dropped from the tz database later
        # must not take the pages down.
        return zoneinfo.ZoneInfo(UNSET_TIMEZONE)
