"""The Reports page's bar chart: geometry for a server-rendered SVG
(templates/reports/_chart.html draws it), and its accessible name.

Only layout lives here: the numbers are the summary's
(:func:`apps.time_entries.reports.summary.report_summary`), one bar per
first-level group, its length proportional to the group's ``total_seconds``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _

#: Bars drawn at most (the table beside the chart lists every group).
MAX_BARS = 50
#: The SVG's size in user units and CSS pixels: drawn at that size, scaled
#: down only where the column is narrower (app.css), so the text stays legible.
WIDTH = 400
ROW = 44
BAR_TOP = 20
BAR_HEIGHT = 16
#: Room kept right of the longest bar for its value (``123:45``).
VALUE_ROOM = 72
LABEL_CHARS = 70
#: Between the ends of a date range (an en dash).
DASH = "\u2013"


def hours_minutes(seconds: int | None) -> str:
    """Seconds as ``H:MM`` (whole minutes: ``7620`` → ``2:07``)."""
    minutes = max(int(seconds or 0), 0) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    y: int
    width: float

    @property
    def label_y(self) -> int:
        return self.y + BAR_TOP - 6

    @property
    def bar_y(self) -> int:
        return self.y + BAR_TOP

    @property
    def value_x(self) -> float:
        return round(self.width + 6, 1)

    @property
    def value_y(self) -> int:
        return self.y + BAR_TOP + BAR_HEIGHT - 3


@dataclass(frozen=True)
class Chart:
    name: str
    bars: list[Bar]
    height: int
    width: int = WIDTH
    bar_height: int = BAR_HEIGHT
    cut: bool = False  # more groups than bars


def bar_chart(groups: Iterable[Mapping[str, Any]], *, name: str) -> Chart:
    """One horizontal bar per group (label above it, ``H:MM`` after it)."""
    groups = list(groups)
    shown = groups[:MAX_BARS]
    longest = max((int(g["total_seconds"]) for g in shown), default=0)
    scale = (WIDTH - VALUE_ROOM) / longest if longest else 0.0
    bars = [
        Bar(
            label=_short(str(g["label"])),
            value=hours_minutes(g["total_seconds"]),
            y=i * ROW,
            # A group with time gets at least a sliver, so it is seen.
            width=round(max(int(g["total_seconds"]) * scale, 2.0 if g["total_seconds"] else 0), 1),
        )
        for i, g in enumerate(shown)
    ]
    return Chart(name=name, bars=bars, height=max(len(bars), 1) * ROW, cut=len(groups) > len(shown))


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def date_range_label(start: datetime.date, end: datetime.date) -> str:
    """``1-7 Dec 2026``, ``30 Nov - 6 Dec 2026``, ``28 Dec 2026 - 3 Jan 2027``
    (with en dashes)."""
    if start == end:
        return date_format(start, "j M Y")
    if (start.year, start.month) == (end.year, end.month):
        return f"{date_format(start, 'j')}{DASH}{date_format(end, 'j M Y')}"
    if start.year == end.year:
        return f"{date_format(start, 'j M')} {DASH} {date_format(end, 'j M Y')}"
    return f"{date_format(start, 'j M Y')} {DASH} {date_format(end, 'j M Y')}"


def chart_name(dimension: str, start: datetime.date, end: datetime.date) -> str:
    """What the chart shows, e.g. ``Hours by project, 1-7 Dec 2026``."""
    names = {
        "project": _("Hours by project, %(range)s"),
        "client": _("Hours by client, %(range)s"),
        "user": _("Hours by user, %(range)s"),
        "task": _("Hours by task, %(range)s"),
        "tag": _("Hours by tag, %(range)s"),
        "day": _("Hours by day, %(range)s"),
        "week": _("Hours by week, %(range)s"),
    }
    template = names.get(dimension, _("Hours, %(range)s"))
    return template % {"range": date_range_label(start, end)}
