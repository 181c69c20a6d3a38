"""The Projects pages: ``/projects/`` (list, filters, ``New project``) and
``/projects/<id>/`` (tasks board by status, milestones, dependencies,
members, budget burn chart, ``New task``).

Thin like the API's views (apps/projects/api/views.py,
apps/tasks/api/views.py): reads go through the same selectors (a project the
caller may not see is a 404, like an unknown id), the list through the API's
filter set, writes through the same input serializers and services under the
same permissions (``projects.manage`` to create a project,
``tasks.contribute`` to create a task); money only where
:func:`apps.projects.permissions.may_view_rates` allows it. A refused write
re-renders the page with the messages next to the fields and what was typed
kept.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page, refused
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import may
from apps.organizations.selectors import members_of
from apps.projects import selectors, services
from apps.projects.api.serializers import ProjectSerializer
from apps.projects.filters import ProjectFilter
from apps.projects.models import Project
from apps.projects.permissions import may_view_rates
from apps.tasks.api.serializers import TaskCreateSerializer
from apps.tasks.constants import TaskStatus
from apps.tasks.models import Task
from apps.tasks.selectors import tasks_visible_to, with_task_details
from apps.tasks.services.tasks import task_create
from apps.time_entries.money import project_currency

from .budget import budget_chart
from .forms import ProjectFilterForm, ProjectForm, TaskForm, apply_error, apply_errors

#: At most this many projects in the list, tasks on a board (bounded pages).
MAX_PROJECTS = 200
MAX_TASKS = 500


# --- /projects/ ---------------------------------------------------------------------


def _list_page(
    request: HttpRequest,
    actor: Membership,
    *,
    form: ProjectForm | None = None,
    status: int = 200,
) -> HttpResponse:
    clients = list(selectors.client_list().only("id", "name"))
    filters = ProjectFilterForm(request.GET, clients=clients)
    params = filters.api_params()
    query = QueryDict(mutable=True)
    query.update(params)
    # The API list's queryset and filter set (GET /api/v1/projects/?…).
    queryset = ProjectFilter(query, queryset=selectors.project_list(actor=actor)).qs
    projects = list(queryset[: MAX_PROJECTS + 1])
    may_create = may(actor, "projects.manage")
    context: dict[str, Any] = {
        "actor": actor,
        "filters": filters,
        "filtered": bool(set(params) - {"archived"} or params.get("archived") == "true"),
        "projects": projects[:MAX_PROJECTS],
        "more": len(projects) > MAX_PROJECTS,
        "max_projects": MAX_PROJECTS,
        "may_create": may_create,
        "form": form or (ProjectForm(clients=clients) if may_create else None),
    }
    return render(request, "projects/projects.html", context, status=status)


@require_http_methods(["GET", "POST"])
@member_page
def projects_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """GET: the list; POST: ``New project`` (``POST /api/v1/projects/``)."""
    if request.method == "GET":
        return _list_page(request, actor)
    if not may(actor, "projects.manage"):  # the API's write permission, before the input
        return refused(request, _("Your role may not create projects."))
    clients = list(selectors.client_list().only("id", "name"))
    form = ProjectForm(request.POST, clients=clients)
    body = ProjectSerializer(
        data=form.api_body(),
        context={"can_view_rates": may_view_rates(actor), "currency": actor.organization.currency},
    )
    if not body.is_valid():
        apply_errors(form, body.errors)
        return _list_page(request, actor, form=form, status=400)
    try:
        project = services.project_create(created_by_id=actor.user_id, **body.validated_data)
    except ApplicationError as exc:
        apply_error(form, exc)
        return _list_page(request, actor, form=form, status=exc.status_code)
    return HttpResponseRedirect(reverse("projects_web:project", args=[project.pk]))


# --- /projects/<id>/ ----------------------------------------------------------------


def _visible_project(actor: Membership, project_id: uuid.UUID) -> Project:
    """The project as ``GET /api/v1/projects/<id>/`` finds it (client joined):
    hidden, deleted and unknown projects are all 404."""
    project = selectors.project_list(actor=actor).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project


def _project_page(
    request: HttpRequest,
    actor: Membership,
    project: Project,
    *,
    task_form: TaskForm | None = None,
    status: int = 200,
) -> HttpResponse:
    organization = actor.organization
    # One query for every name on the page (members, assignees) and the
    # Assignee choices: the organization's members.
    memberships = list(members_of(organization=organization))
    names = {m.user_id: m.user.full_name for m in memberships}
    people = [
        (str(m.user_id), m.user.full_name)
        for m in memberships
        if m.status == MembershipStatus.ACTIVE
    ]
    tasks = list(
        with_task_details(tasks_visible_to(actor=actor).filter(project=project)).order_by(
            "position", "created_at", "id"
        )[: MAX_TASKS + 1]
    )
    columns: dict[str, list[Task]] = {value: [] for value in TaskStatus.values}
    for task in tasks[:MAX_TASKS]:
        assignee_ids = getattr(task, "assignee_ids", [])  # with_task_details' annotation
        task.assignee_names = [names.get(u, "") for u in assignee_ids]  # type: ignore[attr-defined]
        columns.setdefault(task.status, []).append(task)
    members = list(selectors.project_member_list(project=project))
    for member in members:
        member.name = names.get(member.user_id, "")  # type: ignore[attr-defined]
    show_money = may_view_rates(actor)
    chart = None
    if project.budget_hours is not None or (show_money and project.budget_amount is not None):
        spent = selectors.BudgetSpentLookup().get(project)
        currency = project_currency(project, default=organization.currency)
        chart = budget_chart(project, spent, show_money=show_money, currency=currency)
    may_add_task = may(actor, "tasks.contribute")
    context: dict[str, Any] = {
        "actor": actor,
        "project": project,
        "columns": [(value, label, columns[value]) for value, label in TaskStatus.choices],
        "more_tasks": len(tasks) > MAX_TASKS,
        "max_tasks": MAX_TASKS,
        "milestones": list(selectors.milestone_list(project=project)),
        "dependencies": list(selectors.project_dependency_list(project=project)),
        "members": members,
        "chart": chart,
        "show_money": show_money,
        "may_add_task": may_add_task,
        "task_form": task_form or (TaskForm(people=people) if may_add_task else None),
    }
    return render(request, "projects/project.html", context, status=status)


@require_GET
@member_page
def project_page(request: HttpRequest, project_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    return _project_page(request, actor, _visible_project(actor, project_id))


@require_POST
@member_page
def task_new(request: HttpRequest, project_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    """``New task`` on the board: ``POST /api/v1/tasks/`` with this project."""
    project = _visible_project(actor, project_id)
    if not may(actor, "tasks.contribute"):  # the API's write permission, before the input
        return refused(request, _("Your role may not create tasks."))
    people = [
        (str(m.user_id), m.user.full_name)
        for m in members_of(organization=actor.organization)
        if m.status == MembershipStatus.ACTIVE
    ]
    form = TaskForm(request.POST, people=people)
    body = TaskCreateSerializer(data=form.api_body(project.pk))
    if not body.is_valid():
        apply_errors(form, body.errors)
        return _project_page(request, actor, project, task_form=form, status=400)
    try:
        task = task_create(actor=actor, **body.validated_data)
    except ApplicationError as exc:
        apply_error(form, exc)
        return _project_page(request, actor, project, task_form=form, status=exc.status_code)
    return HttpResponseRedirect(reverse("tasks_web:task", args=[task.pk]))
