"""Template context every page gets: which navigation links the actor may see."""

from __future__ import annotations

from django.http import HttpRequest

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
        "live_socket": "/ws/" if actor is not None else "",
    }
