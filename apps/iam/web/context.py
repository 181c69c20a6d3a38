"""Template context every page gets: which navigation links the actor may see,
and the time zone of the page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from apps.organizations.permissions import may


def navigation(request: HttpRequest) -> dict[str, object]:
    """Links by permission (UI.md: ``Approvals`` for managers and up), from
    the membership :func:`apps.iam.web.access.member_page` already loaded:
    no query of its own."""
    actor = getattr(request, "web_actor", None)
    return {
        "nav_may_approve": may(actor, "timesheets.approve"),
        "nav_may_settings": may(actor, "organization.update"),
        # Signed-in member pages open the live socket (static/app.js).
        # Not while two-factor must first be turned on: /ws/ refuses that member.
        "live_socket": "/ws/"
        if actor is not None and not getattr(request, "web_two_factor_required", False)
        else "",
        # The zone the page shows times in, activated by apps.iam.middleware
        # (the user's own, else the organization's): {% timezone page_timezone %}.
        "page_timezone": timezone.get_current_timezone_name(),
    }
