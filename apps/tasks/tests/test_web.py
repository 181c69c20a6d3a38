"""The task page (``/tasks/<id>/``): visibility (hidden tasks are 404 like in
the API), what it shows (assignees, subtasks, blockers, comments with
mentions, activity), the status and comment forms (same serializers,
services and messages as the API) and bounded query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import app_queries
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.constants import ProjectStatus
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.constants import TaskStatus
from apps.tasks.models import Task, TaskActivity, TaskComment, TaskDependency
from apps.tasks.services.comments import task_comment_create
from apps.tasks.tests.factories import TaskCommentFactory, TaskFactory
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def signed_in(tenant, role="member") -> TenantAPIClient:
    membership = MembershipFactory(organization=tenant, role=role)
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    client.membership = membership
    return client


def _body(response) -> str:
    return response.content.decode()


def test_hidden_task_is_404_and_not_writable(in_tenant):
    member = signed_in(in_tenant)
    manager = signed_in(in_tenant, "manager")
    task = TaskFactory(project=ProjectFactory(is_private=True), title="Secret task")

    response = member.get(f"/tasks/{task.pk}/")
    assert response.status_code == 404 and "Secret task" not in _body(response)
    assert member.post(f"/tasks/{task.pk}/comments/", {"body": "hi"}).status_code == 404
    assert member.post(f"/tasks/{task.pk}/status/", {"status": "done"}).status_code == 404
    assert not TaskComment.objects.exists()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.TODO
    assert "Secret task" in _body(manager.get(f"/tasks/{task.pk}/"))


def test_task_page_shows_assignees_subtasks_blockers_and_activity(in_tenant):
    client = signed_in(in_tenant)
    other = MembershipFactory(organization=in_tenant)
    task = TaskFactory(title="Launch", assignees=[other.user_id])
    child = TaskFactory(project=task.project, parent=task, title="Press kit")
    blocker = TaskFactory(project=task.project, title="Legal review")
    TaskDependency.objects.create(task=task, blocked_by=blocker)
    TaskActivity.objects.create(
        task=task,
        actor_id=other.user_id,
        verb="status_changed",
        changes={"status": ["todo", "done"]},
    )

    body = _body(client.get(f"/tasks/{task.pk}/"))

    assert "<h1>Launch</h1>" in body
    assert other.user.full_name in body.split('id="details-heading"')[1].split("</dl>")[0]
    assert f'href="/tasks/{child.pk}/"' in body.split('id="subtasks-heading"')[1]
    blockers = body.split('id="blockers-heading"')[1].split("</section>")[0]
    assert f'href="/tasks/{blocker.pk}/"' in blockers and "Press kit" not in blockers
    activity = body.split('id="activity-heading"')[1]
    assert "To do → Done" in activity and other.user.full_name in activity
    assert "nt-task-comment from:body, nt-task from:body, nt-live from:body" in body


def test_member_posts_a_comment_that_is_listed(in_tenant):
    client = signed_in(in_tenant)
    task = TaskFactory()

    response = client.post(f"/tasks/{task.pk}/comments/", {"body": "Ready for review"})

    assert response.status_code == 302
    comment = TaskComment.objects.get(task=task)
    assert comment.author_id == client.membership.user_id and comment.body == "Ready for review"
    assert TaskActivity.objects.filter(task=task, verb="commented").exists()
    body = _body(client.get(f"/tasks/{task.pk}/"))
    comments = body.split('id="comments-heading"')[1].split("</section>")[0]
    assert "<article" in comments and "Ready for review" in comments


def test_comment_text_is_escaped_and_mentions_show_names(in_tenant):
    client = signed_in(in_tenant)
    mentioned = MembershipFactory(organization=in_tenant)
    task = TaskFactory()
    stranger = "00000000-0000-4000-8000-000000000000"
    body = f"<script>alert(1)</script> **bold** @[{mentioned.user_id}] and @[{stranger}]"
    # As the API stores it: the service resolved the member's mention only.
    TaskCommentFactory(
        task=task, author_id=client.membership.user_id, body=body, mentions=[mentioned.user_id]
    )

    page = _body(client.get(f"/tasks/{task.pk}/"))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold**" in page  # plain text, as the API
    assert f'<strong class="mention">@{mentioned.user.full_name}</strong>' in page
    assert f"@[{stranger}]" in page  # not a resolved mention: left as written
    assert f"@[{mentioned.user_id}]" not in page


def test_comment_errors_shown_with_input_kept(in_tenant):
    client = signed_in(in_tenant)
    task = TaskFactory()
    outsider = "00000000-0000-4000-8000-000000000001"

    blank = client.post(f"/tasks/{task.pk}/comments/", {"body": ""})
    bad = client.post(f"/tasks/{task.pk}/comments/", {"body": f"Ping @[{outsider}] please"})

    assert blank.status_code == 400
    assert 'id="id_body-errors"' in _body(blank)
    assert "This field may not be blank." in _body(blank)
    assert bad.status_code == 400
    page = _body(bad)
    assert "Only active members of this organization can be assigned or mentioned." in page
    assert f"Ping @[{outsider}] please</textarea>" in page
    assert not TaskComment.objects.exists()


def test_viewer_sees_no_forms_and_is_refused(in_tenant):
    viewer = signed_in(in_tenant, "viewer")
    task = TaskFactory()

    page = _body(viewer.get(f"/tasks/{task.pk}/"))
    assert "Post comment" not in page and "Change status" not in page
    assert viewer.post(f"/tasks/{task.pk}/comments/", {"body": "hi"}).status_code == 403
    assert viewer.post(f"/tasks/{task.pk}/status/", {"status": "done"}).status_code == 403
    assert not TaskComment.objects.exists()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.TODO


def test_assignee_changes_the_status(in_tenant):
    client = signed_in(in_tenant)
    task = TaskFactory(assignees=[client.membership.user_id])

    response = client.post(f"/tasks/{task.pk}/status/", {"status": "in_review"})

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_REVIEW
    assert TaskActivity.objects.filter(task=task, verb="status_changed").exists()


def test_status_refusals_show_the_services_message(in_tenant):
    client = signed_in(in_tenant)
    not_mine = TaskFactory()
    mine = TaskFactory(assignees=[client.membership.user_id])
    TaskDependency.objects.create(task=mine, blocked_by=TaskFactory(project=mine.project))
    frozen = TaskFactory(
        project=ProjectFactory(status=ProjectStatus.ARCHIVED),
        assignees=[client.membership.user_id],
    )

    refused = client.post(f"/tasks/{not_mine.pk}/status/", {"status": "done"})
    blocked = client.post(f"/tasks/{mine.pk}/status/", {"status": "done"})
    archived = client.post(f"/tasks/{frozen.pk}/status/", {"status": "done"})
    invalid = client.post(f"/tasks/{mine.pk}/status/", {"status": "nonsense"})

    assert refused.status_code == 403
    assert "Members can only change tasks they reported or are assigned to." in _body(refused)
    assert blocked.status_code == 409
    assert "This task is blocked by 1 open task(s)" in _body(blocked)
    assert '<option value="done" selected>' in _body(blocked)  # the choice is kept
    assert archived.status_code == 400 and "is archived" in _body(archived)
    assert invalid.status_code == 400 and "is not a valid choice." in _body(invalid)
    assert not Task.objects.filter(status=TaskStatus.DONE).exists()


def test_task_page_queries_are_few_and_flat(in_tenant):
    client = signed_in(in_tenant)
    task = TaskFactory(assignees=[client.membership.user_id])
    task_comment_create(actor=client.membership, task=task, body="First")
    TaskDependency.objects.create(task=task, blocked_by=TaskFactory(project=task.project))

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/tasks/{task.pk}/").status_code == 200
        return len(app_queries(captured))

    client.get(f"/tasks/{task.pk}/")
    few = count()
    for i in range(10):
        other = MembershipFactory(organization=in_tenant)
        TaskFactory(project=task.project, parent=task)
        blocker = TaskFactory(project=task.project)
        TaskDependency.objects.create(task=task, blocked_by=blocker)
        task_comment_create(actor=other, task=task, body=f"Hi @[{client.membership.user_id}] {i}")
    many = count()
    assert few == many <= 10, (few, many)
