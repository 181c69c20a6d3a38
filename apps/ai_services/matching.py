"""Fuzzy project, client and task matching for natural-language entries.

Two stages, both bounded whatever the size of the organization:

1. PostgreSQL preselects at most :data:`CANDIDATES` names per kind with
   pg_trgm's ``word_similarity(name, text)`` -- "how well does this name
   match *some stretch* of the text", exactly the question, and it tolerates
   typos ("webiste redesgin"). Only projects the caller may see and that
   still accept time are considered.
2. Python locates the best-matching word window of the text for each
   candidate with :class:`difflib.SequenceMatcher` (rapidfuzz is not a
   dependency), so the matched words can be removed from the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Generic, TypeVar

from django.db.models import F, FloatField, Func, Model, Q, QuerySet, Value

from apps.organizations.models import Membership
from apps.projects.constants import ProjectStatus
from apps.projects.models import Client, Project
from apps.projects.selectors import visible_project_filter
from apps.tasks.models import Task

#: Names preselected per kind by PostgreSQL before the exact window search.
CANDIDATES = 6
#: pg_trgm word similarity below which a name is not even a candidate.
MIN_TRIGRAM = 0.3
#: Window similarity needed to accept a match (short names need more).
MIN_RATIO = 0.75
MIN_RATIO_SHORT = 0.85
#: Ranking bonus of a window written as a name (after "on"/"for", before ":").
MARKED_BONUS = 0.15
_WORD = re.compile(r"[^\s:;,()\[\]{}\"]+")
_CONNECTORS = {"on", "for", "in", "at", "to", "with", "about", "re", "-", "\u2013", "\u2014"}


#: The kind of object matched (a project, client or task).
_M = TypeVar("_M", bound=Model)


@dataclass(frozen=True)
class Match(Generic[_M]):
    obj: _M
    score: float
    span: tuple[int, int]


class WordSimilarity(Func):
    function = "word_similarity"
    output_field = FloatField()


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def best_window(text: str, name: str) -> tuple[float, tuple[int, int]] | None:
    """The word window of ``text`` most similar to ``name`` and its ratio."""
    words = _words(text)
    target = " ".join(name.lower().split())
    n = max(1, len(target.split()))
    best: tuple[float, float, tuple[int, int]] | None = None
    for size in {max(1, n - 1), n, n + 1}:
        for i in range(0, len(words) - size + 1):
            start, end = words[i].start(), words[i + size - 1].end()
            phrase = " ".join(text[start:end].lower().split()).strip(".!?")
            matcher = SequenceMatcher(None, phrase, target, autojunk=False)
            if matcher.real_quick_ratio() < MIN_RATIO or matcher.quick_ratio() < MIN_RATIO:
                continue
            ratio = matcher.ratio()
            # A window marked as a name ("on X", "for X", "X:") wins over a
            # slightly better unmarked one: in "Newslettre: newsletter draft"
            # the project is the marked typo, the other is the description.
            marked = (i > 0 and words[i - 1].group().lower() in _CONNECTORS) or text[
                end : end + 1
            ] == ":"
            key = ratio + (MARKED_BONUS if marked else 0.0)
            if best is None or key > best[0]:
                best = (key, ratio, (start, end))
    return (best[1], best[2]) if best else None


def _pick(text: str, rows: list[tuple[_M, str]]) -> Match[_M] | None:
    best: Match[_M] | None = None
    for obj, name in rows:
        found = best_window(text, name)
        if found is None:
            continue
        ratio, span = found
        needed = MIN_RATIO_SHORT if len(name) <= 4 else MIN_RATIO
        if ratio < needed:
            continue
        # Longer names win ties: "Website redesign" over "Website".
        if best is None or (ratio, len(name)) > (best.score, len(getattr(best.obj, "name", ""))):
            best = Match(obj=obj, score=round(ratio, 3), span=span)
    return best


def _similar(queryset: QuerySet[_M], field: str, text: str) -> list[_M]:
    return list(
        queryset.annotate(_sim=WordSimilarity(F(field), Value(text)))
        .filter(_sim__gte=MIN_TRIGRAM)
        .order_by("-_sim", field)[:CANDIDATES]
    )


def open_projects(actor: Membership) -> QuerySet[Project]:
    """Projects the member may see and book time on (never archived or deleted)."""
    return Project.objects.filter(visible_project_filter(actor)).exclude(
        status=ProjectStatus.ARCHIVED
    )


def match_project(text: str, *, actor: Membership) -> Match[Project] | None:
    if not text.strip():
        return None
    rows = _similar(open_projects(actor), "name", text)
    return _pick(text, [(p, p.name) for p in rows])


def match_client_project(text: str, *, actor: Membership) -> Match[Project] | None:
    """ "for Acme": a client's name; the member's most used open project of that
    client stands for it (score discounted: the project was inferred)."""
    if not text.strip():
        return None
    clients = _similar(Client.objects.filter(is_archived=False), "name", text)
    found = _pick(text, [(c, c.name) for c in clients])
    if found is None:
        return None
    from apps.time_entries.models import TimeEntry

    projects = open_projects(actor).filter(client=found.obj)
    recent = (
        TimeEntry.objects.filter(user_id=actor.user_id, project__in=projects)
        .order_by("-started_at")
        .values_list("project_id", flat=True)
        .first()
    )
    project = projects.filter(pk=recent).first() if recent else projects.order_by("name").first()
    if project is None:
        return None
    return Match(obj=project, score=round(found.score * 0.8, 3), span=found.span)


def match_task(text: str, *, actor: Membership, project: Project | None) -> Match[Task] | None:
    if not text.strip():
        return None
    tasks = Task.objects.filter(project__in=open_projects(actor))
    if project is not None:
        tasks = tasks.filter(project=project)
    tasks = tasks.filter(~Q(status__in=["cancelled"])).select_related("project")
    rows = _similar(tasks, "title", text)
    return _pick(text, [(t, t.title) for t in rows])


def strip_connectors(text: str) -> str:
    """Collapse whitespace and drop dangling connector words and punctuation
    at either end ("standup and planning for" → "standup and planning")."""
    words = text.split()
    while words and _droppable(words[-1]):
        words.pop()
    while words and _droppable(words[0]):
        words.pop(0)
    return " ".join(words)


def _droppable(word: str) -> bool:
    bare = word.lower().strip(":,;.-\u2013\u2014")
    return bare == "" or bare in _CONNECTORS
