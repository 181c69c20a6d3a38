"""Reads of the AI services: natural-language drafts, automation rules and
the members whose time they look at."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.iam.selectors import user_zone
from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import role_has
from tenants.db import current_tenant

from . import matching
from .models import AutomationRule, RuleRun
from .parsing import parse_text, remaining_text, stray_numbers

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

#: Roles that carry ``time.track`` in the shared permission table.
TIME_TRACKING_ROLES = tuple(role for role in Role.values if role_has(role, "time.track"))


def time_tracking_members() -> QuerySet[Membership]:
    """Active memberships of the current organization whose role may track
    time: the people team insights, team summaries and missing-day reminders
    are about. Viewers (they cannot track), deactivated members and other
    organizations' members are left out. The role is filtered in SQL, so a
    caller's batch slice counts only these people."""
    return Membership.objects.filter(
        organization_id=current_tenant().pk,
        status=MembershipStatus.ACTIVE,
        role__in=TIME_TRACKING_ROLES,
    )


def user_timezone(
    *, user: AbstractBaseUser | AnonymousUser, organization: Organization
) -> zoneinfo.ZoneInfo:
    """The user's own timezone; a user still on the default ``UTC`` gets the
    organization's (the rule the web pages use too: apps.iam.selectors)."""
    return user_zone(user=user, fallback=organization.timezone)


def entry_draft_from_text(
    *,
    text: str,
    actor: Membership,
    user: AbstractBaseUser | AnonymousUser,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """A draft time entry read from ``text``; nothing is saved.

    Dates and times are in the user's timezone. Project and task are matched
    fuzzily among what the member may see and book on; a client's name
    ("for Acme") stands for the member's most used project of that client.
    ``unparsed`` lists what looked like data but could not be used.
    """
    tz = user_timezone(user=user, organization=actor.organization)
    local_now = (now or timezone.now()).astimezone(tz)
    parsed = parse_text(text, today=local_now.date())
    rest = remaining_text(text, parsed.consumed)

    project_match = matching.match_project(rest, actor=actor)
    task_match = None
    if project_match is not None:
        rest = remaining_text(rest, [project_match.span])
        task_match = matching.match_task(rest, actor=actor, project=project_match.obj)
    else:
        task_match = matching.match_task(rest, actor=actor, project=None)
        if task_match is None:
            project_match = matching.match_client_project(rest, actor=actor)
            if project_match is not None:
                rest = remaining_text(rest, [project_match.span])
    # A task's words stay in the description: "offline sync conflicts" names
    # the task *and* says what was done; only project names, written as
    # markers ("on X", "X:"), are taken out.

    project = (
        project_match.obj if project_match else (task_match.obj.project if task_match else None)
    )
    task = task_match.obj if task_match else None
    stray = stray_numbers(rest)
    unparsed = list(parsed.unparsed) + stray
    stray_words = set(stray)
    description = matching.strip_connectors(
        " ".join(w for w in rest.split() if w not in stray_words)
    )

    started_at = ended_at = None
    if parsed.start_time is not None:
        started_at = datetime.datetime.combine(parsed.date, parsed.start_time, tzinfo=tz)
        if parsed.duration_seconds is not None:
            ended_at = started_at + datetime.timedelta(seconds=parsed.duration_seconds)
    confidence = {
        "date": 1.0 if parsed.date_explicit else 0.6,
        "duration": 1.0 if parsed.duration_seconds is not None else 0.0,
        "started_at": 1.0 if started_at else 0.0,
        "project": project_match.score
        if project_match
        else (task_match.score if task_match else 0.0),
        "task": task_match.score if task_match else 0.0,
        "tags": 1.0,
        "description": 0.8 if description else 0.0,
    }
    return {
        "project": str(project.pk) if project else None,
        "project_name": project.name if project else None,
        "task": str(task.pk) if task else None,
        "task_title": task.title if task else None,
        "description": description,
        "tags": parsed.tags,
        "date": parsed.date,
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_seconds": parsed.duration_seconds,
        "timezone": str(tz),
        "confidence": confidence,
        "unparsed": unparsed,
    }


def rule_list() -> QuerySet[AutomationRule]:
    return AutomationRule.objects.order_by("kind", "created_at", "id")


def rule_get(*, rule_id: uuid.UUID | str) -> AutomationRule:
    rule = rule_list().filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


def rule_run_list(*, rule: AutomationRule) -> QuerySet[RuleRun]:
    return RuleRun.objects.filter(rule=rule).order_by("-started_at", "id")
