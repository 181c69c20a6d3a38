"""The Projects pages (``/projects/``, ``/projects/<id>/``): who sees which
projects, the filters, ``New project`` and ``New task`` (same serializers,
services and messages as the API), the board, the budget burn chart (money
only for the roles the API shows it to) and bounded query counts."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.testing import app_queries
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.constants import ProjectStatus
from apps.projects.models import Project
from apps.projects.tests.factories import (
    ClientFactory,
    MilestoneFactory,
    ProjectDependencyFactory,
    ProjectFactory,
    ProjectMemberFactory,
)
from apps.tasks.constants import TaskStatus
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory
from apps.time_entries.models import TimeEntry
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


def _entry(project: Project, user_id, hours: int, amount: str = "0") -> None:
    start = timezone.now() - datetime.timedelta(days=2)
    TimeEntry.objects.create(
        project=project,
        user_id=user_id,
        started_at=start,
        ended_at=start + datetime.timedelta(hours=hours),
        duration_seconds=hours * 3600,
        billable=True,
        amount=Decimal(amount),
    )


def _body(response) -> str:
    return response.content.decode()


# --- the list -------------------------------------------------------------------------


def test_list_shows_visible_projects_as_links_not_hidden_private_ones(in_tenant):
    client = signed_in(in_tenant)
    public = ProjectFactory(name="Website relaunch")
    mine = ProjectFactory(name="Secret but mine", is_private=True)
    ProjectMemberFactory(project=mine, user_id=client.membership.user_id)
    ProjectFactory(name="Hidden merger", is_private=True)

    body = _body(client.get("/projects/"))

    assert f'href="/projects/{public.pk}/"' in body
    assert f'href="/projects/{mine.pk}/"' in body
    assert "Hidden merger" not in body


def test_list_filters_by_search_client_status_and_archived(in_tenant):
    client = signed_in(in_tenant)
    acme = ClientFactory(name="Acme Bank")
    ProjectFactory(name="Alpha portal", client=acme)
    ProjectFactory(name="Beta app", status=ProjectStatus.PLANNED)
    ProjectFactory(name="Old alpha", status=ProjectStatus.ARCHIVED)

    assert "Beta app" not in _body(client.get("/projects/?search=alpha"))
    assert "Old alpha" not in _body(client.get("/projects/?search=alpha"))  # archived hidden
    archived = _body(client.get("/projects/?search=alpha&archived=true"))
    assert "Old alpha" in archived and "Alpha portal" not in archived
    by_client = _body(client.get(f"/projects/?client={acme.pk}"))
    assert "Alpha portal" in by_client and "Beta app" not in by_client
    planned = _body(client.get("/projects/?status=planned"))
    assert "Beta app" in planned and "Alpha portal" not in planned
    assert "No project matches these filters." in _body(client.get("/projects/?search=zzz"))


def test_new_project_form_only_for_roles_that_may_create(in_tenant):
    member = signed_in(in_tenant, "member")
    manager = signed_in(in_tenant, "manager")

    assert "New project" not in _body(member.get("/projects/"))
    assert "New project" in _body(manager.get("/projects/"))
    response = member.post("/projects/", {"name": "Sneaky"})
    assert response.status_code == 403
    assert not Project.objects.filter(name="Sneaky").exists()


def test_manager_creates_a_project(in_tenant):
    client = signed_in(in_tenant, "manager")
    acme = ClientFactory(name="Acme Bank")

    response = client.post(
        "/projects/",
        {
            "name": "  Mobile app ",
            "client": str(acme.pk),
            "color": "#AA3366",
            "status": "planned",
            "budget_hours": "120",
            "is_private": "on",
        },
    )

    project = Project.objects.get(name="Mobile app")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/"
    assert project.client == acme and project.color == "#aa3366"
    assert project.status == "planned" and project.budget_hours == Decimal("120")
    assert project.is_private and not project.billable
    assert project.created_by_id == client.membership.user_id


def test_project_errors_next_to_fields_with_input_kept(in_tenant):
    client = signed_in(in_tenant, "manager")
    ProjectFactory(name="Taken", client=None)

    bad_colour = client.post("/projects/", {"name": "Fresh name", "color": "red"})
    taken = client.post("/projects/", {"name": "taken", "code": "TK-1", "color": "#112233"})

    body = _body(bad_colour)
    assert bad_colour.status_code == 400
    assert "Use a hex colour like #4f46e5." in body  # the serializer's message
    assert 'value="Fresh name"' in body and 'value="red"' in body
    body = _body(taken)
    assert taken.status_code == 409
    assert "A project with this name already exists for this client." in body
    assert re.search(r'id="id_name-errors"', body)
    assert 'value="TK-1"' in body
    assert Project.objects.filter(name__iexact="taken").count() == 1


# --- a project ------------------------------------------------------------------------


def test_private_project_is_404_for_those_who_may_not_see_it(in_tenant):
    member = signed_in(in_tenant, "member")
    manager = signed_in(in_tenant, "manager")
    hidden = ProjectFactory(name="Hidden merger", is_private=True)
    TaskFactory(project=hidden, title="Secret task")

    response = member.get(f"/projects/{hidden.pk}/")
    assert response.status_code == 404
    assert "Secret task" not in _body(response)
    assert member.post(f"/projects/{hidden.pk}/tasks/new/", {"title": "x"}).status_code == 404
    assert not Task.objects.filter(title="x").exists()
    assert manager.get(f"/projects/{hidden.pk}/").status_code == 200


def test_project_page_shows_board_milestones_dependencies_members(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory(name="Website relaunch")
    upstream = ProjectFactory(name="Brand guide")
    todo = TaskFactory(project=project, title="Write copy", assignees=[client.membership.user_id])
    TaskFactory(project=project, title="Ship it", status=TaskStatus.DONE)
    MilestoneFactory(project=project, name="Beta launch")
    ProjectDependencyFactory(project=project, depends_on=upstream)
    ProjectMemberFactory(project=project, user_id=client.membership.user_id)

    body = _body(client.get(f"/projects/{project.pk}/"))

    todo_column = body.split('id="column-todo"')[1].split("</section>")[0]
    done_column = body.split('id="column-done"')[1].split("</section>")[0]
    assert f'href="/tasks/{todo.pk}/"' in todo_column and "Write copy" in todo_column
    assert "Ship it" in done_column and "Write copy" not in done_column
    assert client.membership.user.full_name in todo_column  # the assignee
    assert "Beta launch" in body and "Brand guide" in body
    members = body.split('id="members-heading"')[1]
    assert client.membership.user.full_name in members
    assert 'hx-trigger="nt-task from:body, nt-live from:body"' in body


def test_budget_chart_hours_for_everyone_money_for_managers_only(in_tenant):
    member = signed_in(in_tenant, "member")
    manager = signed_in(in_tenant, "manager")
    project = ProjectFactory(
        name="Budgeted", budget_hours=Decimal("100"), budget_amount=Decimal("9000")
    )
    _entry(project, member.membership.user_id, 32, amount="3200")
    ProjectMemberFactory(
        project=project, user_id=member.membership.user_id, hourly_rate=Decimal("77.50")
    )

    member_body = _body(member.get(f"/projects/{project.pk}/"))
    manager_body = _body(manager.get(f"/projects/{project.pk}/"))

    assert 'role="img" aria-label="Budget burn: 32 of 100 hours"' in member_body
    assert "9000" not in member_body and "3200" not in member_body
    assert "77.50" not in member_body  # a member's project rate is money too
    assert "Budget burn: 32 of 100 hours; 3200 of 9000" in manager_body
    assert "<table" in manager_body and "3200.00" in manager_body
    assert "rate 77.50" in manager_body


def test_no_chart_without_a_budget_the_caller_may_see(in_tenant):
    member = signed_in(in_tenant, "member")
    manager = signed_in(in_tenant, "manager")
    money_only = ProjectFactory(name="Money only", budget_amount=Decimal("500"))
    plain = ProjectFactory(name="No budget")

    assert 'role="img"' not in _body(member.get(f"/projects/{money_only.pk}/"))
    assert 'role="img"' in _body(manager.get(f"/projects/{money_only.pk}/"))
    assert 'role="img"' not in _body(manager.get(f"/projects/{plain.pk}/"))


def test_member_creates_a_task_with_an_assignee(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    user_id = client.membership.user_id

    response = client.post(
        f"/projects/{project.pk}/tasks/new/",
        {"title": "Draft the plan", "assignee": str(user_id), "status": "in_progress"},
    )

    task = Task.objects.get(title="Draft the plan")
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.pk}/"
    assert task.project == project and task.status == "in_progress"
    assert task.reporter_id == user_id
    assert list(task.assignments.values_list("user_id", flat=True)) == [user_id]


def test_viewer_gets_no_task_form_and_is_refused(in_tenant):
    viewer = signed_in(in_tenant, "viewer")
    project = ProjectFactory()

    assert "New task" not in _body(viewer.get(f"/projects/{project.pk}/"))
    response = viewer.post(f"/projects/{project.pk}/tasks/new/", {"title": "Nope"})
    assert response.status_code == 403
    assert not Task.objects.filter(title="Nope").exists()


def test_task_errors_next_to_fields_with_input_kept(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    archived = ProjectFactory(status=ProjectStatus.ARCHIVED)

    blank = client.post(f"/projects/{project.pk}/tasks/new/", {"title": "", "status": "done"})
    frozen = client.post(f"/projects/{archived.pk}/tasks/new/", {"title": "Late idea"})

    body = _body(blank)
    assert blank.status_code == 400
    assert 'id="id_title-errors"' in body and "This field may not be blank." in body
    assert '<option value="done" selected>' in body
    body = _body(frozen)
    assert frozen.status_code == 400
    assert "is archived: its tasks cannot be changed." in body
    assert 'value="Late idea"' in body
    assert not Task.objects.filter(project__in=[project, archived]).exists()


# --- query counts ---------------------------------------------------------------------


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(app_queries(captured))


def test_list_queries_are_few_and_flat(in_tenant):
    client = signed_in(in_tenant, "manager")
    ProjectFactory()
    client.get("/projects/")
    few = _count(client, "/projects/")
    for _ in range(15):
        ProjectFactory(is_private=True)
    many = _count(client, "/projects/")
    assert few == many <= 10, (few, many)


def test_project_page_queries_are_few_and_flat(in_tenant):
    client = signed_in(in_tenant, "manager")
    project = ProjectFactory(budget_hours=Decimal("10"), budget_amount=Decimal("100"))
    TaskFactory(project=project, assignees=[client.membership.user_id])
    MilestoneFactory(project=project)
    client.get(f"/projects/{project.pk}/")
    few = _count(client, f"/projects/{project.pk}/")
    for i in range(12):
        other = MembershipFactory(organization=in_tenant)
        TaskFactory(project=project, status=TaskStatus.values[i % 6], assignees=[other.user_id])
        MilestoneFactory(project=project)
        ProjectMemberFactory(project=project, user_id=other.user_id)
        ProjectDependencyFactory(project=project)
        _entry(project, other.user_id, 1)
    many = _count(client, f"/projects/{project.pk}/")
    assert few == many <= 10, (few, many)
