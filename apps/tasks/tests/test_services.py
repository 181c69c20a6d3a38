"""Task services: rules, exact activity rows and exact events.

Events leave on commit; the test transaction never commits, so each action
whose events are asserted runs inside ``django_capture_on_commit_callbacks
(execute=True)``, which hands them to the ``captured_events`` recorder.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from apps.common.errors import ApplicationError
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Label, Task, TaskActivity, TaskAssignee, TaskComment, TaskDependency
from apps.tasks.services import comments, dependencies, labels, ordering, tasks

from .factories import LabelFactory, TaskFactory, join_project, member_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(in_tenant: Any) -> Any:
    return ProjectFactory(name="Website")


@pytest.fixture
def manager(tenant: Any) -> Any:
    return member_of(tenant, "manager")


@pytest.fixture
def member(tenant: Any) -> Any:
    return member_of(tenant, "member")


def _raises(code: str, status: int) -> Any:
    """Context manager: an ApplicationError with this code and status (``as
    info``: pytest's ``ExceptionInfo``)."""

    class _Check:
        def __enter__(self) -> Any:
            self.ctx = pytest.raises(ApplicationError)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc: Any) -> bool:
            handled = self.ctx.__exit__(*exc)
            assert (self.info.value.code, self.info.value.status_code) == (code, status)
            return handled

    return _Check()


def _events(captured: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.type, e.op, e.data) for e in captured]


def _activity(task: Task) -> list[tuple[str, Any, dict[str, Any]]]:
    rows = TaskActivity.objects.filter(task=task).order_by("created_at", "verb")
    return [(a.verb, a.actor_id, a.changes) for a in rows]


# --- create ---------------------------------------------------------------------------


def test_create_records_reporter_activity_and_event(
    project, member, tenant, captured_events, commit
):
    other = member_of(tenant, "viewer")
    label = LabelFactory(name="bug")

    with commit():
        task = tasks.task_create(
            actor=member,
            project_id=project.pk,
            title="Fix login",
            description="500 on submit",
            priority="high",
            assignee_ids=[other.user_id, member.user_id],
            label_ids=[label.pk],
            estimate_hours=Decimal("2.5"),
            start_date=datetime.date(2025, 1, 6),
            due_date=datetime.date(2025, 1, 10),
        )

    task.refresh_from_db()
    assert (task.reporter_id, task.status, task.completed_at) == (member.user_id, "todo", None)
    assert task.estimate_hours == Decimal("2.50")
    assert task.position == 1024.0  # first task of the project
    assert set(TaskAssignee.objects.filter(task=task).values_list("user_id", flat=True)) == {
        other.user_id,
        member.user_id,
    }
    assignees = sorted([str(other.user_id), str(member.user_id)])
    assert _activity(task) == [
        (
            "created",
            member.user_id,
            {
                "project": [None, str(project.pk)],
                "title": [None, "Fix login"],
                "status": [None, "todo"],
                "priority": [None, "high"],
                "position": [None, 1024.0],
                "description": [None, "500 on submit"],
                "assignees": [None, assignees],
                "labels": [None, [str(label.pk)]],
                "estimate_hours": [None, "2.50"],
                "start_date": [None, "2025-01-06"],
                "due_date": [None, "2025-01-10"],
            },
        )
    ]
    assert _events(captured_events) == [
        (
            "task",
            "created",
            {
                "id": str(task.pk),
                "project": str(project.pk),
                "parent": None,
                "title": "Fix login",
                "status": "todo",
                "priority": "high",
                "assignees": assignees,
                "labels": [str(label.pk)],
                "reporter": str(member.user_id),
                "start_date": "2025-01-06",
                "due_date": "2025-01-10",
                "position": 1024.0,
                "completed_at": None,
            },
        )
    ]
    assert captured_events[0].user_ids is None  # public project: everyone


def test_new_tasks_are_appended(project, member):
    TaskFactory(project=project, position=5000.0)
    task = tasks.task_create(actor=member, project_id=project.pk, title="Next")
    assert task.position == 5000.0 + ordering.POSITION_STEP


def test_create_done_sets_completed_at(project, member):
    task = tasks.task_create(actor=member, project_id=project.pk, title="x", status="done")
    assert task.completed_at is not None


def test_viewer_cannot_create(project, tenant):
    with _raises("role_required", 403) as info:
        tasks.task_create(actor=member_of(tenant, "viewer"), project_id=project.pk, title="x")
    assert info.value.extra == {"permission": "tasks.contribute"}
    assert Task.objects.count() == 0


@pytest.mark.parametrize("archived_by", ["create", "move", "edit"])
def test_archived_project_refuses_tasks(project, manager, captured_events, commit, archived_by):
    archived = ProjectFactory(status="archived")
    task = TaskFactory(project=archived if archived_by == "edit" else project, title="Keep")
    before = TaskActivity.objects.count(), Task.objects.count()

    with commit(), _raises("project_archived", 400):
        if archived_by == "create":
            tasks.task_create(actor=manager, project_id=archived.pk, title="x")
        elif archived_by == "move":
            tasks.task_update(actor=manager, task=task, project_id=archived.pk)
        else:
            tasks.task_update(actor=manager, task=task, title="Changed")

    task.refresh_from_db()
    assert (task.title, task.project_id) == (
        "Keep",
        archived.pk if archived_by == "edit" else project.pk,
    )
    assert (TaskActivity.objects.count(), Task.objects.count()) == before
    assert captured_events == []


def test_due_before_start_is_refused(project, manager):
    task = TaskFactory(project=project, start_date=datetime.date(2025, 3, 10))
    with _raises("invalid_date_range", 400):
        tasks.task_create(
            actor=manager,
            project_id=project.pk,
            title="x",
            start_date=datetime.date(2025, 3, 2),
            due_date=datetime.date(2025, 3, 1),
        )
    with _raises(
        "invalid_date_range", 400
    ):  # only due_date given: checked against the stored start
        tasks.task_update(actor=manager, task=task, due_date=datetime.date(2025, 3, 9))
    task.refresh_from_db()
    assert task.due_date is None
    assert Task.objects.count() == 1


def test_unknown_project_and_labels_are_field_errors(project, manager, other_tenant):
    from django_tenants.utils import tenant_context

    with tenant_context(other_tenant):
        foreign_project = ProjectFactory()
        foreign_label = LabelFactory()

    with _raises("does_not_exist", 400) as info:
        tasks.task_create(actor=manager, project_id=foreign_project.pk, title="x")
    assert list(info.value.extra["fields"]) == ["project"]
    with _raises("does_not_exist", 400) as info:
        tasks.task_create(
            actor=manager, project_id=project.pk, title="x", label_ids=[foreign_label.pk]
        )
    assert info.value.extra["fields"] == {"labels": [f"No such labels: {foreign_label.pk}."]}
    assert Task.objects.count() == 0


# --- assignees ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["stranger", "deactivated", "other_org"])
def test_assignees_must_be_active_members(project, manager, tenant, other_tenant, who):
    from apps.iam.tests.factories import UserFactory

    if who == "stranger":
        user_id = UserFactory().pk
    elif who == "deactivated":
        user_id = member_of(tenant, "member", status="deactivated").user_id
    else:
        user_id = member_of(other_tenant, "member").user_id
    task = TaskFactory(project=project)

    with _raises("not_an_organization_member", 400):
        tasks.task_create(actor=manager, project_id=project.pk, title="x", assignee_ids=[user_id])
    with _raises("not_an_organization_member", 400):
        tasks.task_update(actor=manager, task=task, assignee_ids=[user_id])

    assert Task.objects.count() == 1
    assert TaskAssignee.objects.count() == 0
    assert TaskActivity.objects.count() == 0


def test_assignees_of_a_private_project_must_see_it(manager, member, tenant, in_tenant):
    private = ProjectFactory(is_private=True)
    task = TaskFactory(project=private)
    other_manager = member_of(tenant, "manager")

    with _raises("user_cannot_see_project", 400):
        tasks.task_update(actor=manager, task=task, assignee_ids=[member.user_id])
    assert TaskAssignee.objects.count() == 0

    join_project(private, member)
    tasks.task_update(
        actor=manager, task=task, assignee_ids=[member.user_id, other_manager.user_id]
    )
    assert TaskAssignee.objects.filter(task=task).count() == 2


def test_assigning_records_activity_and_event(project, manager, tenant, captured_events, commit):
    a, b, c = (member_of(tenant) for _ in range(3))
    task = TaskFactory(project=project, assignees=[a.user_id, b.user_id])

    with commit():
        tasks.task_assign(actor=manager, task=task, assignee_ids=[b.user_id, c.user_id])

    assert set(TaskAssignee.objects.filter(task=task).values_list("user_id", flat=True)) == {
        b.user_id,
        c.user_id,
    }
    old, new = sorted([str(a.user_id), str(b.user_id)]), sorted([str(b.user_id), str(c.user_id)])
    assert _activity(task) == [("assigned", manager.user_id, {"assignees": [old, new]})]
    assert _events(captured_events) == [
        (
            "task",
            "assigned",
            {
                "id": str(task.pk),
                "project": str(project.pk),
                "assignees": new,
                "added": [str(c.user_id)],
                "removed": [str(a.user_id)],
            },
        )
    ]


def test_removing_everyone_is_unassigned(project, manager, member):
    task = TaskFactory(project=project, assignees=[member.user_id])
    tasks.task_update(actor=manager, task=task, assignee_ids=[])
    assert _activity(task) == [
        ("unassigned", manager.user_id, {"assignees": [[str(member.user_id)], []]})
    ]


# --- update, status, completed_at -----------------------------------------------------


def test_update_records_exact_changes_and_event(project, manager, captured_events, commit):
    old_label, new_label = LabelFactory(name="a"), LabelFactory(name="b")
    task = TaskFactory(project=project, title="Old", priority="low", labels=[old_label])

    with commit():
        tasks.task_update(
            actor=manager,
            task=task,
            title="New",
            priority="low",  # unchanged: not recorded
            label_ids=[new_label.pk],
            due_date=datetime.date(2025, 5, 1),
        )

    changes = {
        "title": ["Old", "New"],
        "due_date": [None, "2025-05-01"],
        "labels": [[str(old_label.pk)], [str(new_label.pk)]],
    }
    assert _activity(task) == [("updated", manager.user_id, changes)]
    assert _events(captured_events) == [
        ("task", "updated", {"id": str(task.pk), "project": str(project.pk), "changes": changes})
    ]
    assert list(task.labels.all()) == [new_label]


def test_update_that_changes_nothing_writes_nothing(project, manager, captured_events, commit):
    task = TaskFactory(project=project, title="Same")
    updated_at = task.updated_at
    with commit():
        tasks.task_update(actor=manager, task=task, title="Same", assignee_ids=[])
    task.refresh_from_db()
    assert task.updated_at == updated_at
    assert TaskActivity.objects.count() == 0
    assert captured_events == []


def test_completed_at_follows_status(project, manager, captured_events, commit):
    task = TaskFactory(project=project, status="in_progress")

    with commit():
        tasks.task_update(actor=manager, task=task, status="done")
    task.refresh_from_db()
    done_at = task.completed_at
    assert done_at is not None
    assert _activity(task) == [
        (
            "status_changed",
            manager.user_id,
            {"status": ["in_progress", "done"], "completed_at": [None, done_at.isoformat()]},
        )
    ]
    base = {"id": str(task.pk), "project": str(project.pk)}
    assert _events(captured_events) == [
        (
            "task",
            "updated",
            {
                **base,
                "changes": {
                    "status": ["in_progress", "done"],
                    "completed_at": [None, done_at.isoformat()],
                },
            },
        ),
        ("task", "completed", {**base, "completed_at": done_at.isoformat()}),
    ]

    tasks.task_update(actor=manager, task=task, status="cancelled")  # closed → closed: kept
    task.refresh_from_db()
    assert (task.status, task.completed_at) == ("cancelled", done_at)

    tasks.task_update(actor=manager, task=task, status="todo")  # reopened: cleared
    task.refresh_from_db()
    assert (task.status, task.completed_at) == ("todo", None)
    assert TaskActivity.objects.filter(task=task).order_by("created_at").last().changes == {
        "status": ["cancelled", "todo"],
        "completed_at": [done_at.isoformat(), None],
    }


def test_cancelling_sets_completed_at_without_completed_event(
    project, manager, captured_events, commit
):
    task = TaskFactory(project=project)
    with commit():
        tasks.task_update(actor=manager, task=task, status="cancelled")
    task.refresh_from_db()
    assert task.completed_at is not None
    assert [e.op for e in captured_events] == ["updated"]


# --- blockers -------------------------------------------------------------------------


def test_member_cannot_complete_a_blocked_task(project, member, captured_events, commit):
    blocker = TaskFactory(project=project, status="in_progress")
    task = TaskFactory(project=project, reporter_id=member.user_id)
    TaskDependency.objects.create(task=task, blocked_by=blocker)

    for force in (False, True):  # a member's force is refused the same way
        with commit(), _raises("blockers_open", 409):
            tasks.task_update(actor=member, task=task, status="done", force=force)

    task.refresh_from_db()
    assert (task.status, task.completed_at) == ("todo", None)
    assert TaskActivity.objects.count() == 0
    assert captured_events == []


def test_blockers_open_lists_the_open_blockers(project, manager):
    open_blocker = TaskFactory(project=project)
    task = TaskFactory(project=project)
    TaskDependency.objects.create(task=task, blocked_by=open_blocker)
    TaskDependency.objects.create(task=task, blocked_by=TaskFactory(project=project, status="done"))

    with pytest.raises(ApplicationError) as info:
        tasks.task_update(actor=manager, task=task, status="done")
    assert info.value.extra == {"blockers": [str(open_blocker.pk)]}


def test_manager_may_force_completion(project, manager):
    task = TaskFactory(project=project)
    TaskDependency.objects.create(task=task, blocked_by=TaskFactory(project=project))
    tasks.task_update(actor=manager, task=task, status="done", force=True)
    task.refresh_from_db()
    assert task.status == "done"


@pytest.mark.parametrize("blocker_state", ["done", "cancelled", "deleted"])
def test_closed_or_deleted_blockers_do_not_block(project, member, blocker_state):
    blocker = TaskFactory(project=project)
    if blocker_state == "deleted":
        blocker.soft_delete()
    else:
        blocker.status = blocker_state
        blocker.save()
    task = TaskFactory(project=project, reporter_id=member.user_id)
    TaskDependency.objects.create(task=task, blocked_by=blocker)
    tasks.task_update(actor=member, task=task, status="done")
    task.refresh_from_db()
    assert task.status == "done"


# --- parents --------------------------------------------------------------------------


def test_parent_cycles_are_refused(project, manager):
    root = TaskFactory(project=project)
    child = TaskFactory(project=project, parent=root)
    grandchild = TaskFactory(project=project, parent=child)

    for new_parent in (grandchild, child, root):
        with _raises("parent_cycle", 409):
            tasks.task_update(actor=manager, task=root, parent_id=new_parent.pk)

    root.refresh_from_db()
    assert root.parent_id is None
    assert TaskActivity.objects.count() == 0


def test_reparenting_records_the_change(project, manager):
    a, b = TaskFactory(project=project), TaskFactory(project=project)
    child = TaskFactory(project=project, parent=a)
    tasks.task_update(actor=manager, task=child, parent_id=b.pk)
    child.refresh_from_db()
    assert child.parent_id == b.pk
    assert _activity(child) == [("updated", manager.user_id, {"parent": [str(a.pk), str(b.pk)]})]


def test_parent_must_be_in_the_same_project(project, manager):
    parent = TaskFactory()  # another project
    with _raises("parent_other_project", 400):
        tasks.task_create(actor=manager, project_id=project.pk, title="x", parent_id=parent.pk)
    task = TaskFactory(project=project)
    with _raises("parent_other_project", 400):
        tasks.task_update(actor=manager, task=task, parent_id=parent.pk)
    assert Task.objects.count() == 2


def test_moving_a_task_takes_its_subtasks_along(project, manager, captured_events, commit):
    other = ProjectFactory()
    parent = TaskFactory(project=project)
    child = TaskFactory(project=project, parent=parent)
    grandchild = TaskFactory(project=project, parent=child)

    with commit():
        tasks.task_update(actor=manager, task=parent, project_id=other.pk)

    assert set(Task.objects.values_list("project_id", flat=True)) == {other.pk}
    change = {"project": [str(project.pk), str(other.pk)]}
    for task in (parent, child, grandchild):
        assert _activity(task) == [("updated", manager.user_id, change)]
    assert _events(captured_events) == [
        ("task", "updated", {"id": str(parent.pk), "project": str(other.pk), "changes": change})
    ]


def test_a_subtask_moves_alone_only_without_its_parent(project, manager):
    other = ProjectFactory()
    child = TaskFactory(project=project, parent=TaskFactory(project=project))
    with _raises("parent_other_project", 400):
        tasks.task_update(actor=manager, task=child, project_id=other.pk)
    tasks.task_update(actor=manager, task=child, project_id=other.pk, parent_id=None)
    child.refresh_from_db()
    assert (child.project_id, child.parent_id) == (other.pk, None)


# --- dependencies ---------------------------------------------------------------------


def test_dependency_cycles_are_refused(project, manager, captured_events, commit):
    a, b, c = (TaskFactory(project=project) for _ in range(3))
    dependencies.task_dependency_add(actor=manager, task=a, blocked_by_id=b.pk)
    dependencies.task_dependency_add(actor=manager, task=b, blocked_by_id=c.pk)
    links = TaskDependency.objects.count()
    rows = TaskActivity.objects.count()

    with commit():
        for task, blocker in ((c, a), (b, a), (a, a)):
            with _raises("dependency_cycle", 409):
                dependencies.task_dependency_add(actor=manager, task=task, blocked_by_id=blocker.pk)
        with _raises("dependency_exists", 409):
            dependencies.task_dependency_add(actor=manager, task=a, blocked_by_id=b.pk)

    assert (TaskDependency.objects.count(), TaskActivity.objects.count()) == (links, rows)
    assert captured_events == []


def test_dependency_add_and_remove_record_activity_and_events(
    project, manager, captured_events, commit
):
    task, first, second = (TaskFactory(project=project) for _ in range(3))
    dependencies.task_dependency_add(actor=manager, task=task, blocked_by_id=first.pk)

    with commit():
        link = dependencies.task_dependency_add(actor=manager, task=task, blocked_by_id=second.pk)
        dependencies.task_dependency_remove(actor=manager, task=task, dependency_id=first.pk)

    assert (link.task_id, link.blocked_by_id) == (task.pk, second.pk)
    rows = TaskActivity.objects.filter(task=task).order_by("created_at")
    assert [(a.verb, a.changes) for a in rows] == [
        ("dependency_added", {"blocked_by": [None, str(first.pk)]}),
        ("dependency_added", {"blocked_by": [None, str(second.pk)]}),
        ("dependency_removed", {"blocked_by": [str(first.pk), None]}),
    ]
    both = sorted([str(first.pk), str(second.pk)])
    base = {"id": str(task.pk), "project": str(project.pk)}
    assert _events(captured_events) == [
        ("task", "updated", {**base, "changes": {"blocked_by": [[str(first.pk)], both]}}),
        ("task", "updated", {**base, "changes": {"blocked_by": [both, [str(second.pk)]]}}),
    ]


def test_dependencies_may_cross_projects_but_not_visibility(project, member, tenant):
    mine = TaskFactory(project=project, reporter_id=member.user_id)
    elsewhere = TaskFactory()  # another public project
    hidden = TaskFactory(project=ProjectFactory(is_private=True))

    dependencies.task_dependency_add(actor=member, task=mine, blocked_by_id=elsewhere.pk)
    with _raises("does_not_exist", 400) as info:
        dependencies.task_dependency_add(actor=member, task=mine, blocked_by_id=hidden.pk)
    assert list(info.value.extra["fields"]) == ["blocked_by"]
    assert TaskDependency.objects.count() == 1


# --- who may edit and delete ----------------------------------------------------------


def test_members_edit_only_tasks_they_report_or_are_assigned_to(project, member, tenant):
    theirs = TaskFactory(project=project, title="Theirs")
    reported = TaskFactory(project=project, reporter_id=member.user_id)
    assigned = TaskFactory(project=project, assignees=[member.user_id])

    with _raises("not_task_participant", 403):
        tasks.task_update(actor=member, task=theirs, title="Mine now")
    for task in (reported, assigned):
        tasks.task_update(actor=member, task=task, title="Edited")

    assert sorted(Task.objects.values_list("title", flat=True)) == ["Edited", "Edited", "Theirs"]


def test_members_delete_only_tasks_they_reported(project, member):
    assigned = TaskFactory(project=project, assignees=[member.user_id])
    with _raises("not_task_reporter", 403):
        tasks.task_delete(actor=member, task=assigned)
    tasks.task_delete(actor=member, task=TaskFactory(project=project, reporter_id=member.user_id))
    assert Task.objects.count() == 1


def test_delete_and_restore_cover_the_subtasks(project, manager, captured_events, commit):
    parent = TaskFactory(project=project)
    child = TaskFactory(project=project, parent=parent)
    earlier = TaskFactory(project=project, parent=parent)
    tasks.task_delete(actor=manager, task=earlier)

    with commit():
        tasks.task_delete(actor=manager, task=parent)
    assert Task.objects.count() == 0
    base = {"id": str(parent.pk), "project": str(project.pk)}
    assert _events(captured_events) == [
        ("task", "deleted", {**base, "subtasks": [str(child.pk)]}),
    ]

    with _raises("parent_deleted", 409):
        tasks.task_restore(actor=manager, task=child)

    with commit():
        tasks.task_restore(actor=manager, task=parent)
    assert set(Task.objects.values_list("pk", flat=True)) == {parent.pk, child.pk}  # not earlier
    assert _events(captured_events)[-1] == (
        "task",
        "restored",
        {**base, "subtasks": [str(child.pk)]},
    )
    assert [v for v, _, _ in _activity(child)] == ["deleted", "restored"]

    with _raises("task_not_deleted", 409):
        tasks.task_restore(actor=manager, task=parent)


# --- comments -------------------------------------------------------------------------


def test_comment_mentions_are_parsed_and_notified(project, member, tenant, captured_events, commit):
    mentioned = member_of(tenant, "viewer")
    task = TaskFactory(project=project)
    body = f"@[{mentioned.user_id}] please check; cc @[{member.user_id}] @[{mentioned.user_id}]"

    with commit():
        comment = comments.task_comment_create(actor=member, task=task, body=body)

    assert comment.mentions == [mentioned.user_id, member.user_id]
    assert _activity(task) == [("commented", member.user_id, {"comment": [None, str(comment.pk)]})]
    assert _events(captured_events) == [
        (
            "task.comment",
            "created",
            {
                "id": str(comment.pk),
                "task": str(task.pk),
                "author": str(member.user_id),
                "body": body,
                "mentions": [str(mentioned.user_id), str(member.user_id)],
            },
        ),
        (
            "task.mention",
            "created",
            {"task": str(task.pk), "comment": str(comment.pk), "author": str(member.user_id)},
        ),
    ]
    assert captured_events[1].user_ids == (str(mentioned.user_id),)  # not the author


def test_mentioning_a_non_member_is_refused(project, member):
    from apps.iam.tests.factories import UserFactory

    task = TaskFactory(project=project)
    with _raises("not_an_organization_member", 400):
        comments.task_comment_create(actor=member, task=task, body=f"hi @[{UserFactory().pk}]")
    assert TaskComment.objects.count() == 0
    assert TaskActivity.objects.count() == 0


def test_comment_edit_and_delete_rules(project, member, tenant, captured_events, commit):
    task = TaskFactory(project=project)
    comment = comments.task_comment_create(actor=member, task=task, body="first")
    newcomer = member_of(tenant)

    with _raises("not_author", 403):
        comments.task_comment_update(actor=member_of(tenant, "owner"), comment=comment, body="x")
    with _raises("not_author", 403):
        comments.task_comment_delete(actor=member_of(tenant, "manager"), comment=comment)

    with commit():
        comments.task_comment_update(
            actor=member, comment=comment, body=f"second @[{newcomer.user_id}]"
        )
    comment.refresh_from_db()
    assert (comment.body, comment.mentions) == (f"second @[{newcomer.user_id}]", [newcomer.user_id])
    assert [(e.type, e.op) for e in captured_events] == [
        ("task.comment", "updated"),
        ("task.mention", "created"),
    ]

    comments.task_comment_delete(actor=member_of(tenant, "admin"), comment=comment)
    assert TaskComment.objects.count() == 0
    rows = TaskActivity.objects.filter(task=task).order_by("created_at")
    assert [r.changes for r in rows] == [
        {"comment": [None, str(comment.pk)]},
        {"comment": [str(comment.pk), str(comment.pk)], "body": ["first", comment.body]},
        {"comment": [str(comment.pk), None]},
    ]


# --- labels ---------------------------------------------------------------------------


def test_labels_are_managed_by_managers(in_tenant, tenant, manager, captured_events, commit):
    with _raises("role_required", 403) as info:
        labels.label_create(actor=member_of(tenant, "member"), name="bug")
    assert info.value.extra == {"permission": "tasks.manage_all"}

    with commit():
        label = labels.label_create(actor=manager, name="Bug", color="#ff0000")
    with _raises("label_name_taken", 400):
        labels.label_create(actor=manager, name="bug")
    labels.label_update(actor=manager, label=label, name="Defect")
    label.refresh_from_db()
    assert (label.name, label.color) == ("Defect", "#ff0000")
    assert _events(captured_events) == [
        ("label", "created", {"id": str(label.pk), "name": "Bug", "color": "#ff0000"})
    ]


def test_deleting_a_label_is_recorded_on_its_tasks(project, manager):
    keep, gone = LabelFactory(name="keep"), LabelFactory(name="gone")
    task = TaskFactory(project=project, labels=[keep, gone])
    labels.label_delete(actor=manager, label=gone)
    assert not Label.objects.filter(pk=gone.pk).exists()
    assert list(task.labels.all()) == [keep]
    assert _activity(task) == [
        (
            "updated",
            manager.user_id,
            {"labels": [sorted([str(keep.pk), str(gone.pk)]), [str(keep.pk)]]},
        )
    ]


# --- manual ordering ------------------------------------------------------------------


def test_move_before_and_after(project, manager):
    a, b, c = (TaskFactory(project=project, position=p) for p in (1024.0, 2048.0, 3072.0))

    tasks.task_move(actor=manager, task=c, before_id=b.pk)  # midpoint of a and b
    c.refresh_from_db()
    assert c.position == 1536.0
    tasks.task_move(actor=manager, task=a, after_id=b.pk)  # b is last: one step after it
    a.refresh_from_db()
    assert a.position == 2048.0 + ordering.POSITION_STEP

    ordered = Task.objects.filter(project=project).order_by("position")
    assert list(ordered.values_list("pk", flat=True)) == [c.pk, b.pk, a.pk]
    assert _activity(c) == [("updated", manager.user_id, {"position": [3072.0, 1536.0]})]


def test_move_renumbers_when_the_gap_is_exhausted(project, manager):
    a = TaskFactory(project=project, position=1.0)
    b = TaskFactory(project=project, position=1.0 + 1e-7)
    c = TaskFactory(project=project, position=5.0)
    tasks.task_move(actor=manager, task=c, before_id=b.pk)
    order = list(
        Task.objects.filter(project=project).order_by("position").values_list("pk", flat=True)
    )
    assert order == [a.pk, c.pk, b.pk]


# --- events audience ------------------------------------------------------------------


def test_private_project_events_go_to_its_members_and_managers(
    tenant, manager, member, in_tenant, captured_events, commit
):
    private = ProjectFactory(is_private=True)
    join_project(private, member)
    member_of(tenant, "member")  # not in the project: must not hear about it

    with commit():
        tasks.task_create(actor=member, project_id=private.pk, title="secret")

    managers = {
        str(m.user_id)
        for m in tenant.memberships.filter(role__in=["manager", "admin", "owner"], status="active")
    }
    assert set(captured_events[0].user_ids) == managers | {str(member.user_id)}
