"""Template filters shared by the web app's pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def duration(seconds: int | None) -> str:
    """Seconds as ``H:MM:SS`` (``1:05:00``), what the Time page shows."""
    if seconds is None:
        return ""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
