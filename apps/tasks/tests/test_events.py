"""Every task event type, from the action that emits it: type, op, exact data
and audience (``None``: the whole organization; else the listed user ids).

Events leave through ``send_event_on_commit`` when the transaction commits:
``emitted()`` runs the action's on-commit callbacks and records what was
dispatched to the channel layer (tests/test_websocket.py follows a created
task over a real socket).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from apps.organizations.models import Membership
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Task
from apps.tasks.services import comments, dependencies, labels, tasks

from .factories import LabelFactory, TaskFactory, join_project, member_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(in_tenant: Any) -> Any:
    return ProjectFactory(name="Website")


@pytest.fixture
def manager(tenant: Any) -> Membership:
    return member_of(tenant, "manager")


def _base(task: Task) -> dict[str, str]:
    return {"id": str(task.pk), "project": str(task.project_id)}


# --- task -----------------------------------------------------------------------------


def test_task_created(project, manager, record):
    label = LabelFactory()
    task, events = record(
        lambda: tasks.task_create(
            actor=manager,
            project_id=project.pk,
            title="Ship",
            priority="high",
            assignee_ids=[manager.user_id],
            label_ids=[label.pk],
            due_date=datetime.date(2025, 3, 1),
        )
    )
    data = {
        **_base(task),
        "parent": None,
        "title": "Ship",
        "status": "todo",
        "priority": "high",
        "assignees": [str(manager.user_id)],
        "labels": [str(label.pk)],
        "reporter": str(manager.user_id),
        "start_date": None,
        "due_date": "2025-03-01",
        "position": task.position,
        "completed_at": None,
    }
    assert events == [("task", "created", data, None)]


def test_task_updated_assigned_and_completed_in_that_order(project, manager, tenant, record):
    task = TaskFactory(project=project, title="a")
    member = member_of(tenant)
    _, events = record(
        lambda: tasks.task_update(
            actor=manager, task=task, title="b", status="done", assignee_ids=[member.user_id]
        )
    )
    task.refresh_from_db()
    completed_at = task.completed_at.isoformat()
    assert events == [
        (
            "task",
            "updated",
            {
                **_base(task),
                "changes": {
                    "title": ["a", "b"],
                    "status": ["todo", "done"],
                    "completed_at": [None, completed_at],
                },
            },
            None,
        ),
        (
            "task",
            "assigned",
            {
                **_base(task),
                "assignees": [str(member.user_id)],
                "added": [str(member.user_id)],
                "removed": [],
            },
            None,
        ),
        ("task", "completed", {**_base(task), "completed_at": completed_at}, None),
    ]


def test_task_updated_by_a_dependency(project, manager, record):
    task, blocker = TaskFactory(project=project), TaskFactory(project=project)
    link, added = record(
        lambda: dependencies.task_dependency_add(actor=manager, task=task, blocked_by_id=blocker.pk)
    )
    _, removed = record(
        lambda: dependencies.task_dependency_remove(actor=manager, task=task, dependency_id=link.pk)
    )
    assert added == [
        (
            "task",
            "updated",
            {**_base(task), "changes": {"blocked_by": [[], [str(blocker.pk)]]}},
            None,
        )
    ]
    assert removed == [
        (
            "task",
            "updated",
            {**_base(task), "changes": {"blocked_by": [[str(blocker.pk)], []]}},
            None,
        )
    ]


def test_task_deleted_and_restored_with_their_subtasks(project, manager, record):
    parent = TaskFactory(project=project)
    child = TaskFactory(project=project, parent=parent)
    _, deleted = record(lambda: tasks.task_delete(actor=manager, task=parent))
    _, restored = record(lambda: tasks.task_restore(actor=manager, task=parent))
    data = {**_base(parent), "subtasks": [str(child.pk)]}
    assert deleted == [("task", "deleted", data, None)]
    assert restored == [("task", "restored", data, None)]


def test_private_project_task_events_go_to_its_members_and_managers(
    in_tenant, tenant, manager, record
):
    private = ProjectFactory(is_private=True)
    insider = member_of(tenant)
    join_project(private, insider)
    member_of(tenant)  # an outsider: hears nothing
    _, events = record(
        lambda: tasks.task_create(actor=insider, project_id=private.pk, title="secret")
    )
    managers = Membership.objects.filter(
        organization=tenant, status="active", role__in=["manager", "admin", "owner"]
    )
    audience = sorted({str(insider.user_id), *(str(m.user_id) for m in managers)})
    assert [(e[0], e[1], e[3]) for e in events] == [("task", "created", audience)]


def test_an_update_that_changes_nothing_sends_nothing(project, manager, record):
    task = TaskFactory(project=project, title="same")
    _, events = record(lambda: tasks.task_update(actor=manager, task=task, title="same"))
    assert events == []


# --- task.comment and task.mention ----------------------------------------------------


def test_comment_created_updated_deleted_and_mentions(project, manager, tenant, record):
    task = TaskFactory(project=project)
    first, second = member_of(tenant), member_of(tenant)

    comment, created = record(
        lambda: comments.task_comment_create(
            actor=manager, task=task, body=f"@[{first.user_id}] look"
        )
    )
    _, updated = record(
        lambda: comments.task_comment_update(
            actor=manager, comment=comment, body=f"@[{first.user_id}] @[{second.user_id}]"
        )
    )
    _, deleted = record(lambda: comments.task_comment_delete(actor=manager, comment=comment))

    def data(body: str, *mentioned: Membership) -> dict[str, Any]:
        return {
            "id": str(comment.pk),
            "task": str(task.pk),
            "author": str(manager.user_id),
            "body": body,
            "mentions": [str(m.user_id) for m in mentioned],
        }

    mention = {"task": str(task.pk), "comment": str(comment.pk), "author": str(manager.user_id)}
    assert created == [
        ("task.comment", "created", data(f"@[{first.user_id}] look", first), None),
        ("task.mention", "created", mention, [str(first.user_id)]),
    ]
    assert updated == [
        (
            "task.comment",
            "updated",
            data(f"@[{first.user_id}] @[{second.user_id}]", first, second),
            None,
        ),
        ("task.mention", "created", mention, [str(second.user_id)]),  # the newly mentioned only
    ]
    assert deleted == [
        ("task.comment", "deleted", {"id": str(comment.pk), "task": str(task.pk)}, None)
    ]


def test_mentioning_oneself_notifies_nobody(project, manager, record):
    task = TaskFactory(project=project)
    _, events = record(
        lambda: comments.task_comment_create(actor=manager, task=task, body=f"@[{manager.user_id}]")
    )
    assert [(e[0], e[1]) for e in events] == [("task.comment", "created")]


# --- label ----------------------------------------------------------------------------


def test_label_created_updated_deleted(in_tenant, manager, record):
    label, created = record(lambda: labels.label_create(actor=manager, name="Bug", color="#ff0000"))
    _, updated = record(lambda: labels.label_update(actor=manager, label=label, name="Defect"))
    _, unchanged = record(lambda: labels.label_update(actor=manager, label=label, name="Defect"))
    _, deleted = record(lambda: labels.label_delete(actor=manager, label=label))
    assert created == [
        ("label", "created", {"id": str(label.pk), "name": "Bug", "color": "#ff0000"}, None)
    ]
    assert updated == [
        ("label", "updated", {"id": str(label.pk), "name": "Defect", "color": "#ff0000"}, None)
    ]
    assert unchanged == []
    assert deleted == [("label", "deleted", {"id": str(label.pk)}, None)]
