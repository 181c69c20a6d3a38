"""The demo organization's activity (``seed_demo`` calls it inside its schema):
what a visitor clicking through acme sees.

* each project has its team (the manager leads every project) and tasks in
  several statuses;
* every member has entries on the working days since the Monday three weeks
  ago, with plausible descriptions, priced like any entry (``rates``);
* Mia's last week is submitted and waits for Manuel's approval; the week
  before is approved for everyone;
* ``#general`` has a short conversation between the members.

Deterministic (``random.Random`` seeded per member) and idempotent: each part
is skipped when it is already there, so running the seed again adds nothing,
even on a later day. Bulk inserts, a handful of service calls: well under a
second on a laptop.
"""

from __future__ import annotations

import datetime
import random
import zoneinfo
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.chat.constants import ChannelKind
from apps.chat.models import Channel, ChannelMember, Message
from apps.chat.services.channels import channel_create
from apps.projects.constants import ProjectRole
from apps.projects.models import Project, ProjectMember
from apps.tasks.constants import CLOSED_STATUSES, TaskPriority, TaskStatus
from apps.tasks.models import Task, TaskAssignee
from apps.time_entries.constants import EntrySource
from apps.time_entries.models import TimeEntry
from apps.time_entries.rates import compute_amount, resolve_rate
from apps.timesheets import services as timesheets
from apps.timesheets.models import Timesheet
from apps.timesheets.periods import period_bounds

from .models import Membership, Organization

#: Who works on what (by e-mail); the manager leads every project.
TEAMS = {
    "Website redesign": ["member@acme.test", "lena@acme.test", "tomas@acme.test"],
    "Mobile app": ["tomas@acme.test", "yuki@acme.test", "sam@acme.test"],
    "Data migration": ["member@acme.test", "sam@acme.test", "admin@acme.test"],
    "Patient portal": ["lena@acme.test", "yuki@acme.test", "member@acme.test"],
    "Internal": [
        "owner@acme.test",
        "admin@acme.test",
        "member@acme.test",
        "lena@acme.test",
        "tomas@acme.test",
        "yuki@acme.test",
        "sam@acme.test",
    ],
}
MANAGER = "manager@acme.test"
SUBMITTER = "member@acme.test"  # her last week waits for the manager's approval

S = TaskStatus
#: (title, status, priority) per project.
TASKS = {
    "Website redesign": [
        ("Audit the current site's page speed", S.DONE, TaskPriority.MEDIUM),
        ("New navigation and footer", S.IN_REVIEW, TaskPriority.HIGH),
        ("Product pages in the new layout", S.IN_PROGRESS, TaskPriority.HIGH),
        ("Accessibility pass (WCAG 2.2 AA)", S.TODO, TaskPriority.MEDIUM),
        ("Migrate the blog", S.BACKLOG, TaskPriority.LOW),
    ],
    "Mobile app": [
        ("Sign-in with passkeys", S.IN_PROGRESS, TaskPriority.URGENT),
        ("Offline mode for the order list", S.TODO, TaskPriority.HIGH),
        ("Push notification settings", S.IN_REVIEW, TaskPriority.MEDIUM),
        ("Crash on Android 12 when rotating", S.DONE, TaskPriority.URGENT),
        ("Dark mode", S.BACKLOG, TaskPriority.LOW),
    ],
    "Data migration": [
        ("Map the legacy customer tables", S.DONE, TaskPriority.HIGH),
        ("Write the import scripts", S.IN_PROGRESS, TaskPriority.HIGH),
        ("Reconcile invoice totals", S.TODO, TaskPriority.MEDIUM),
        ("Dry run on a copy of production", S.TODO, TaskPriority.URGENT),
    ],
    "Patient portal": [
        ("Appointment booking flow", S.IN_PROGRESS, TaskPriority.HIGH),
        ("Lab results page", S.TODO, TaskPriority.MEDIUM),
        ("Privacy review with the client", S.IN_REVIEW, TaskPriority.HIGH),
        ("Print-friendly prescriptions", S.CANCELLED, TaskPriority.LOW),
    ],
    "Internal": [
        ("Quarterly planning", S.DONE, TaskPriority.MEDIUM),
        ("Onboarding guide for new hires", S.IN_PROGRESS, TaskPriority.LOW),
        ("Renew the SSL certificates", S.TODO, TaskPriority.HIGH),
    ],
}
#: Descriptions per project for entries without a task.
WORK = {
    "Website redesign": ["Client workshop", "Design review", "Front-end build", "QA on staging"],
    "Mobile app": ["Sprint planning", "Code review", "Fixing build pipeline", "App store assets"],
    "Data migration": ["Schema analysis", "Import script testing", "Call with Initech IT"],
    "Patient portal": ["Stand-up with Umbrella", "Form validation", "Usability test notes"],
    "Internal": ["Team meeting", "Hiring interviews", "Invoices and admin", "Learning time"],
}
CHAT = [
    ("lena@acme.test", "Good morning! The new navigation is on staging, feedback welcome."),
    ("tomas@acme.test", "Looks great on desktop. On my phone the menu overlaps the logo."),
    ("lena@acme.test", "Good catch, fixing it before lunch."),
    ("manager@acme.test", "Reminder: please submit last week's timesheets by Monday evening."),
    ("member@acme.test", "Done, mine is submitted."),
    ("yuki@acme.test", "Passkey sign-in works on iOS now. Android next."),
    ("sam@acme.test", "Nice! Can you share the test build link?"),
    ("yuki@acme.test", "Sure, it's in the Mobile app channel's pinned notes."),
    ("admin@acme.test", "Heads-up: the SSL certificates expire in two weeks, I'm on it."),
    ("owner@acme.test", "Thanks Arjun. Umbrella Health signed the second phase, by the way!"),
    ("manager@acme.test", "Great news. Lena and Yuki, can we plan the kickoff for Thursday?"),
    ("lena@acme.test", "Thursday 10:00 works for me."),
    ("yuki@acme.test", "Same here."),
    ("sam@acme.test", "The Initech dry run is scheduled for Friday night, I'll post results."),
    ("admin@acme.test", "I'll keep an eye on the database during the dry run."),
]
TIMEZONE = zoneinfo.ZoneInfo("Europe/Berlin")


def seed_demo_activity(org: Organization) -> None:
    """Fill the demo organization (current schema: ``org``'s) with activity."""
    members = {
        m.user.email: m
        for m in Membership.objects.filter(organization=org).select_related("user", "organization")
    }
    projects = {p.name: p for p in Project.objects.filter(name__in=TEAMS)}
    _teams(members, projects)
    tasks = _tasks(members, projects)
    now = timezone.now()
    today = now.astimezone(TIMEZONE).date()
    this_period = period_bounds(org, today)[0]
    last_period = period_bounds(org, this_period - datetime.timedelta(days=1))[0]
    before_last = period_bounds(org, last_period - datetime.timedelta(days=1))[0]
    first_day = period_bounds(org, this_period - datetime.timedelta(days=21))[0]
    _entries(members, projects, tasks, first_day=first_day, now=now)
    _timesheets(members, approved_start=before_last, submitted_start=last_period)
    _chat(members, now=now)


def _teams(members: dict[str, Membership], projects: dict[str, Project]) -> None:
    existing = set(ProjectMember.objects.values_list("project_id", "user_id"))
    rows = []
    for name, emails in TEAMS.items():
        project = projects[name]
        for email, role in [
            (MANAGER, ProjectRole.LEAD),
            *((e, ProjectRole.MEMBER) for e in emails),
        ]:
            user_id = members[email].user_id
            if (project.pk, user_id) not in existing:
                existing.add((project.pk, user_id))
                rows.append(ProjectMember(project=project, user_id=user_id, role=role))
    ProjectMember.objects.bulk_create(rows)


def _tasks(members: dict[str, Membership], projects: dict[str, Project]) -> dict[str, list[Task]]:
    existing = {
        (t.project_id, t.title): t for t in Task.objects.filter(project__in=projects.values())
    }
    rnd = random.Random("acme-tasks")
    new, assignees = [], []
    now = timezone.now()
    for name, rows in TASKS.items():
        project = projects[name]
        for position, (title, status, priority) in enumerate(rows):
            if (project.pk, title) in existing:
                continue
            task = Task(
                project=project,
                title=title,
                status=status,
                priority=priority,
                reporter_id=members[MANAGER].user_id,
                position=float(position + 1) * 1024,
                estimate_hours=Decimal(rnd.choice([2, 4, 8, 16])),
                due_date=now.date() + datetime.timedelta(days=rnd.randint(3, 40)),
                completed_at=now if status in CLOSED_STATUSES else None,
            )
            new.append(task)
            existing[(project.pk, title)] = task
            assignees.append(
                TaskAssignee(task=task, user_id=members[rnd.choice(TEAMS[name])].user_id)
            )
    Task.objects.bulk_create(new)
    TaskAssignee.objects.bulk_create(assignees)
    by_project: dict[str, list[Task]] = {}
    for name, project in projects.items():
        by_project[name] = [t for (pid, _), t in existing.items() if pid == project.pk]
    return by_project


def _entries(
    members: dict[str, Membership],
    projects: dict[str, Project],
    tasks: dict[str, list[Task]],
    *,
    first_day: datetime.date,
    now: datetime.datetime,
) -> None:
    """Entries from ``first_day`` to now on working days, for each member who
    has none yet (a member's entries are all or nothing)."""
    has_entries = set(
        TimeEntry.all_objects.filter(user_id__in=[m.user_id for m in members.values()]).values_list(
            "user_id", flat=True
        )
    )
    rates: dict[tuple[Any, Any], Decimal | None] = {}
    rows = []
    for email, membership in sorted(members.items()):
        if membership.user_id in has_entries:
            continue
        rnd = random.Random(f"acme-entries-{email}")
        mine = [name for name, team in TEAMS.items() if email in team or email == MANAGER]
        day = first_day
        while day <= now.astimezone(TIMEZONE).date():
            if day.weekday() < 5:
                start = datetime.datetime.combine(day, datetime.time(9), tzinfo=TIMEZONE)
                start += datetime.timedelta(minutes=rnd.choice([0, 15, 30, 45]))
                for _ in range(rnd.randint(2, 4)):
                    minutes = rnd.choice([45, 60, 90, 120, 150, 180])
                    end = start + datetime.timedelta(minutes=minutes)
                    if end > now:
                        break
                    name = rnd.choice(mine)
                    project = projects[name]
                    open_tasks = [t for t in tasks[name] if t.status != S.BACKLOG]
                    task = rnd.choice(open_tasks) if open_tasks and rnd.random() < 0.6 else None
                    description = task.title if task else rnd.choice(WORK[name])
                    key = (membership.user_id, project.pk)
                    if key not in rates:
                        rates[key] = resolve_rate(user_id=membership.user_id, project=project)
                    seconds = minutes * 60
                    billable = project.billable
                    rows.append(
                        TimeEntry(
                            user_id=membership.user_id,
                            project=project,
                            task=task,
                            description=description,
                            started_at=start,
                            ended_at=end,
                            duration_seconds=seconds,
                            billable=billable,
                            source=rnd.choice([EntrySource.TIMER, EntrySource.MANUAL]),
                            hourly_rate=rates[key],
                            amount=compute_amount(
                                rate=rates[key], duration_seconds=seconds, billable=billable
                            ),
                            created_at=end,
                        )
                    )
                    start = end + datetime.timedelta(minutes=rnd.choice([0, 15, 30, 60]))
            day += datetime.timedelta(days=1)
    TimeEntry.objects.bulk_create(rows, batch_size=1000)


def _timesheets(
    members: dict[str, Membership],
    *,
    approved_start: datetime.date,
    submitted_start: datetime.date,
) -> None:
    """The week before last approved for every member; the submitter's last
    week submitted. Through the services (entries linked, totals snapshotted,
    history written), once: skipped when the submitter already has sheets."""
    submitter = members[SUBMITTER]
    if Timesheet.objects.filter(user_id=submitter.user_id).exists():
        return
    manager = members[MANAGER]
    for email, membership in sorted(members.items()):
        if email in (MANAGER, "owner@acme.test"):
            continue
        sheet, _ = timesheets.timesheet_get_or_create(
            user_id=membership.user_id, period_start=approved_start
        )
        sheet = timesheets.timesheet_submit(timesheet=sheet, actor=membership)
        timesheets.timesheet_approve(timesheet=sheet, actor=manager, comment="Thanks!")
    sheet, _ = timesheets.timesheet_get_or_create(
        user_id=submitter.user_id, period_start=submitted_start
    )
    timesheets.timesheet_submit(timesheet=sheet, actor=submitter, comment="All client work.")


def _chat(members: dict[str, Membership], *, now: datetime.datetime) -> None:
    """``#general`` with every member and a short conversation (once)."""
    channel = Channel.objects.filter(name__iexact="general", kind=ChannelKind.PUBLIC).first()
    if channel is None:
        channel = channel_create(
            actor=members["owner@acme.test"],
            name="general",
            kind=ChannelKind.PUBLIC,
            topic="Company-wide news and questions",
        )
    if Message.all_objects.filter(channel=channel).exists():
        return
    joined = set(ChannelMember.objects.filter(channel=channel).values_list("user_id", flat=True))
    ChannelMember.objects.bulk_create(
        [
            ChannelMember(channel=channel, user_id=m.user_id)
            for m in members.values()
            if m.user_id not in joined
        ]
    )
    first = now - datetime.timedelta(hours=26)
    messages = Message.objects.bulk_create(
        [
            Message(
                channel=channel,
                author_id=members[email].user_id,
                body=body,
                created_at=first + datetime.timedelta(minutes=97 * i),
            )
            for i, (email, body) in enumerate(CHAT)
        ]
    )
    channel.last_message_at = messages[-1].created_at
    channel.save(update_fields=["last_message_at", "updated_at"])
    # Everyone has read up to their own last message: the rest is unread
    # (Mia, who spoke early, finds most of the conversation new).
    for membership in members.values():
        own = [m for m in messages if m.author_id == membership.user_id]
        if own:
            ChannelMember.objects.filter(channel=channel, user_id=membership.user_id).update(
                last_read_message=own[-1], last_read_at=own[-1].created_at
            )
