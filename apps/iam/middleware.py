"""Each request in the signed-in user's language and time zone (#20).

Language: the user's choice (``User.language``, on ``/account/``) when set,
else Django's negotiation (LocaleMiddleware: ``Accept-Language``, then
``LANGUAGE_CODE``). It applies to the API as well (a session client's error
messages, the ``Content-Language`` header); a token client is authenticated
by DRF inside the view, after this middleware, so the token authentication
applies the user's language itself (:func:`activate_user_language`).

Time zone: on every page outside ``/api/`` the zone times are shown and typed
in is :func:`apps.iam.selectors.user_zone`: the user's own, else (a user still
on the default ``UTC``) the host organization's. The API is left on UTC:
its timestamps keep the offsets clients and tests rely on. The zone is
deactivated again after the response, so a thread serving the next request
never inherits it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation

from .selectors import user_zone

#: Paths left on UTC (the JSON API: its timestamps are pinned by clients).
UTC_PREFIXES = ("/api/",)


def _user_language(user: object) -> str:
    language = getattr(user, "language", "") or ""
    return language if language in dict(settings.LANGUAGES) else ""


def activate_user_language(user: object) -> None:
    """The user's chosen language for the rest of the request, if they chose
    one (the API's token authentication calls it once the user is known)."""
    language = _user_language(user)
    if language:
        translation.activate(language)


class UserLocaleMiddleware(LocaleMiddleware):
    """LocaleMiddleware whose negotiation a signed-in user's choice overrides,
    plus the user's time zone on pages. Goes after the authentication
    middleware (settings.MIDDLEWARE)."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)  # Accept-Language / LANGUAGE_CODE
        timezone.deactivate()
        user = request.user
        if not user.is_authenticated:
            return
        activate_user_language(user)
        request.LANGUAGE_CODE = translation.get_language()
        if not request.path_info.startswith(UTC_PREFIXES):
            organization = getattr(request, "tenant", None)
            zone = user_zone(user=user, fallback=getattr(organization, "timezone", "") or "")
            timezone.activate(zone)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        response = super().process_response(request, response)
        timezone.deactivate()
        return response
