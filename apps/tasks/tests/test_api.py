"""Task HTTP API: role matrix, visibility, tenant isolation, errors, list
filters and a constant query count.

Every test runs inside ``acme``'s schema (``in_tenant``); ``client_as`` gives
clients that return to it after each request.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Label, Task, TaskActivity, TaskAssignee, TaskComment, TaskDependency

from .factories import (
    LabelFactory,
    TaskCommentFactory,
    TaskFactory,
    client_as,
    join_project,
    member_of,
)

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "member", "manager", "admin", "owner"]
ANONYMOUS_AND_OUTSIDER = [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]


@pytest.fixture
def project(in_tenant: Any) -> Any:
    return ProjectFactory(name="Website")


# --- role matrix ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "code"), ANONYMOUS_AND_OUTSIDER + [(r, 200, None) for r in ROLES]
)
def test_list_and_read_matrix(project, tenant, role, status, code):
    task = TaskFactory(project=project, title="Visible")
    client = client_as(tenant, role)

    expect(client.get("/api/v1/tasks/"), status, code)
    body = expect(client.get(f"/api/v1/tasks/{task.pk}/"), status, code)
    if status == 200:
        assert body["title"] == "Visible"
        assert len(client.get("/api/v1/tasks/").json()["results"]) == 1


@pytest.mark.parametrize(
    ("role", "status", "code"),
    ANONYMOUS_AND_OUTSIDER
    + [("viewer", 403, "role_required")]
    + [(r, 201, None) for r in ("member", "manager", "admin", "owner")],
)
def test_create_matrix(project, tenant, role, status, code):
    client = client_as(tenant, role)
    response = client.post(
        "/api/v1/tasks/", {"project": str(project.pk), "title": "New"}, format="json"
    )
    body = expect(response, status, code)
    assert Task.objects.count() == (1 if status == 201 else 0)
    if status == 201:
        assert body["reporter"] == str(client.membership.user_id)
        assert body["status"] == "todo"
        assert body["assignees"] == [] and body["subtask_count"] == 0
    if code == "role_required":
        assert body["permission"] == "tasks.contribute"


@pytest.mark.parametrize(
    ("role", "status", "code"),
    ANONYMOUS_AND_OUTSIDER
    + [("viewer", 403, "role_required"), ("member", 403, "not_task_participant")]
    + [(r, 200, None) for r in ("manager", "admin", "owner")],
)
def test_update_matrix_on_someone_elses_task(project, tenant, role, status, code):
    task = TaskFactory(project=project, title="Before")
    response = client_as(tenant, role).patch(
        f"/api/v1/tasks/{task.pk}/", {"title": "After"}, format="json"
    )
    expect(response, status, code)
    task.refresh_from_db()
    assert task.title == ("After" if status == 200 else "Before")
    assert TaskActivity.objects.count() == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    ("role", "status", "code"),
    ANONYMOUS_AND_OUTSIDER
    + [("viewer", 403, "role_required"), ("member", 403, "not_task_reporter")]
    + [(r, 204, None) for r in ("manager", "admin", "owner")],
)
def test_delete_matrix_on_someone_elses_task(project, tenant, role, status, code):
    task = TaskFactory(project=project)
    expect(client_as(tenant, role).delete(f"/api/v1/tasks/{task.pk}/"), status, code)
    assert Task.objects.filter(pk=task.pk).exists() == (status != 204)
    assert Task.all_objects.filter(pk=task.pk).exists()  # soft delete


def test_member_edits_own_and_assigned_tasks(project, tenant):
    member = member_of(tenant)
    client = client_as(tenant, member)
    assigned = TaskFactory(project=project, assignees=[member.user_id])
    created = expect(
        client.post("/api/v1/tasks/", {"project": str(project.pk), "title": "Mine"}, format="json"),
        201,
    )

    for task_id in (assigned.pk, created["id"]):
        body = expect(
            client.patch(f"/api/v1/tasks/{task_id}/", {"priority": "urgent"}, format="json"), 200
        )
        assert body["priority"] == "urgent"
    expect(client.delete(f"/api/v1/tasks/{created['id']}/"), 204)
    body = expect(client.post(f"/api/v1/tasks/{created['id']}/restore/"), 200)
    assert body["deleted_at"] is None


# --- visibility and isolation ----------------------------------------------------------


def test_member_does_not_see_private_projects_they_are_not_in(project, tenant):
    private = ProjectFactory(is_private=True)
    hidden = TaskFactory(project=private, title="Hidden")
    TaskFactory(project=project, title="Public")
    member = member_of(tenant)
    client = client_as(tenant, member)

    assert [t["title"] for t in client.get("/api/v1/tasks/").json()["results"]] == ["Public"]
    expect(client.get(f"/api/v1/tasks/{hidden.pk}/"), 404, "not_found")
    expect(client.patch(f"/api/v1/tasks/{hidden.pk}/", {"title": "x"}, format="json"), 404)
    expect(client.get(f"/api/v1/tasks/{hidden.pk}/comments/"), 404)
    expect(client.get(f"/api/v1/tasks/{hidden.pk}/activity/"), 404)
    response = client.post(
        "/api/v1/tasks/", {"project": str(private.pk), "title": "x"}, format="json"
    )
    assert expect(response, 400, "does_not_exist")["fields"] == {"project": ["No such project."]}

    join_project(private, member)
    assert len(client.get("/api/v1/tasks/").json()["results"]) == 2
    assert len(client_as(tenant, "manager").get("/api/v1/tasks/").json()["results"]) == 2
    hidden.refresh_from_db()
    assert hidden.title == "Hidden"


def test_tasks_of_deleted_projects_are_hidden(project, tenant):
    task = TaskFactory(project=project)
    project.soft_delete()
    client = client_as(tenant, "owner")
    assert len(client.get("/api/v1/tasks/").json()["results"]) == 0
    expect(client.get(f"/api/v1/tasks/{task.pk}/"), 404)


def test_other_organizations_ids_are_unknown(project, tenant, other_tenant):
    with tenant_context(other_tenant):
        foreign_project = ProjectFactory()
        foreign_task = TaskFactory(project=foreign_project)
        foreign_label = LabelFactory()
    mine = TaskFactory(project=project)
    client = client_as(tenant, "owner")

    expect(client.get(f"/api/v1/tasks/{foreign_task.pk}/"), 404)
    expect(client.delete(f"/api/v1/tasks/{foreign_task.pk}/"), 404)
    expect(client.patch(f"/api/v1/labels/{foreign_label.pk}/", {"name": "x"}, format="json"), 404)
    cases = [
        ("post", "/api/v1/tasks/", {"project": str(foreign_project.pk), "title": "x"}, "project"),
        ("patch", f"/api/v1/tasks/{mine.pk}/", {"parent": str(foreign_task.pk)}, "parent"),
        ("patch", f"/api/v1/tasks/{mine.pk}/", {"labels": [str(foreign_label.pk)]}, "labels"),
        (
            "post",
            f"/api/v1/tasks/{mine.pk}/dependencies/",
            {"blocked_by": str(foreign_task.pk)},
            "blocked_by",
        ),
    ]
    for method, url, payload, field in cases:
        body = expect(getattr(client, method)(url, payload, format="json"), 400, "does_not_exist")
        assert list(body["fields"]) == [field]
    assert (
        client.get("/api/v1/tasks/", {"project": str(foreign_project.pk)}).json()["results"] == []
    )
    assert (Task.objects.count(), TaskDependency.objects.count()) == (1, 0)
    assert TaskActivity.objects.count() == 0


def test_malformed_ids_are_404(project, tenant):
    client = client_as(tenant, "owner")
    for url in ("/api/v1/tasks/nope/", "/api/v1/tasks/123/comments/", "/api/v1/labels/x/"):
        expect(client.get(url), 404, "not_found")


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_is_400_and_writes_nothing(project, tenant):
    client = client_as(tenant, "manager")
    archived = ProjectFactory(status="archived")
    good = {"project": str(project.pk), "title": "x"}
    cases = [
        ({**good, "title": ""}, "invalid", "title"),
        ({**good, "status": "finished"}, "invalid", "status"),
        ({**good, "estimate_hours": "-1"}, "invalid", "estimate_hours"),
        ({**good, "assignees": ["not-a-uuid"]}, "invalid", "assignees"),
        (
            {**good, "start_date": "2025-02-02", "due_date": "2025-02-01"},
            "invalid_date_range",
            "due_date",
        ),
        ({**good, "assignees": [str(uuid.uuid4())]}, "not_an_organization_member", "assignees"),
        ({**good, "project": str(archived.pk)}, "project_archived", "project"),
        ({**good, "parent": str(uuid.uuid4())}, "does_not_exist", "parent"),
    ]
    for payload, code, field in cases:
        body = expect(client.post("/api/v1/tasks/", payload, format="json"), 400, code)
        assert field in body["fields"], body
    assert Task.objects.count() == 0
    assert TaskActivity.objects.count() == 0


def test_patch_to_an_archived_project_is_400(project, tenant):
    task = TaskFactory(project=project)
    archived = ProjectFactory(status="archived")
    response = client_as(tenant, "manager").patch(
        f"/api/v1/tasks/{task.pk}/", {"project": str(archived.pk)}, format="json"
    )
    expect(response, 400, "project_archived")
    task.refresh_from_db()
    assert task.project_id == project.pk


def test_parent_cycle_is_409(project, tenant):
    root = TaskFactory(project=project)
    child = TaskFactory(project=project, parent=root)
    response = client_as(tenant, "manager").patch(
        f"/api/v1/tasks/{root.pk}/", {"parent": str(child.pk)}, format="json"
    )
    expect(response, 409, "parent_cycle")
    root.refresh_from_db()
    assert root.parent_id is None


def test_completion_with_open_blockers(project, tenant):
    member = member_of(tenant)
    task = TaskFactory(project=project, assignees=[member.user_id])
    blocker = TaskFactory(project=project)
    TaskDependency.objects.create(task=task, blocked_by=blocker)

    body = expect(
        client_as(tenant, member).patch(
            f"/api/v1/tasks/{task.pk}/", {"status": "done", "force": True}, format="json"
        ),
        409,
        "blockers_open",
    )
    assert body["blockers"] == [str(blocker.pk)]
    task.refresh_from_db()
    assert task.status == "todo"

    manager = client_as(tenant, "manager")
    url = f"/api/v1/tasks/{task.pk}/"
    expect(manager.patch(url, {"status": "done"}, format="json"), 409, "blockers_open")
    body = expect(manager.patch(url, {"status": "done", "force": True}, format="json"), 200)
    assert body["status"] == "done" and body["completed_at"] is not None


# --- sub-resources ----------------------------------------------------------------------------


def test_dependencies_endpoints(project, tenant):
    client = client_as(tenant, "manager")
    a, b = TaskFactory(project=project), TaskFactory(project=project)
    url = f"/api/v1/tasks/{a.pk}/dependencies/"

    body = expect(client.post(url, {"blocked_by": str(b.pk)}, format="json"), 201)
    assert (body["task"], body["blocked_by"]) == (str(a.pk), str(b.pk))
    assert client.get(f"/api/v1/tasks/{a.pk}/").json()["blocked_by"] == [str(b.pk)]
    back = f"/api/v1/tasks/{b.pk}/dependencies/"
    expect(client.post(back, {"blocked_by": str(a.pk)}, format="json"), 409, "dependency_cycle")
    expect(client.post(url, {"blocked_by": str(b.pk)}, format="json"), 409, "dependency_exists")
    assert TaskDependency.objects.count() == 1

    expect(client.delete(f"{url}{body['id']}/"), 204)
    expect(client.delete(f"{url}{body['id']}/"), 404)
    expect(client.post(url, {"blocked_by": str(b.pk)}, format="json"), 201)
    expect(client.delete(f"{url}{b.pk}/"), 204)  # by the blocking task's id
    assert TaskDependency.objects.count() == 0


@pytest.mark.parametrize(
    ("role", "status", "code"),
    ANONYMOUS_AND_OUTSIDER
    + [("viewer", 403, "role_required")]
    + [(r, 201, None) for r in ("member", "manager", "admin", "owner")],
)
def test_comment_create_matrix(project, tenant, role, status, code):
    task = TaskFactory(project=project)
    response = client_as(tenant, role).post(
        f"/api/v1/tasks/{task.pk}/comments/", {"body": "Hello"}, format="json"
    )
    expect(response, status, code)
    assert TaskComment.objects.count() == (1 if status == 201 else 0)


def test_comment_endpoints(project, tenant):
    author = member_of(tenant)
    mentioned = member_of(tenant, "viewer")
    client = client_as(tenant, author)
    task = TaskFactory(project=project)
    url = f"/api/v1/tasks/{task.pk}/comments/"

    body = expect(client.post(url, {"body": f"ping @[{mentioned.user_id}]"}, format="json"), 201)
    assert body["mentions"] == [str(mentioned.user_id)]
    assert body["author"] == str(author.user_id)
    TaskCommentFactory(task=task, body="older?")  # listed oldest first
    listed = client_as(tenant, "viewer").get(url).json()["results"]
    assert [c["body"] for c in listed] == [f"ping @[{mentioned.user_id}]", "older?"]

    comment_url = f"{url}{body['id']}/"
    expect(
        client_as(tenant, "owner").patch(comment_url, {"body": "hijack"}, format="json"),
        403,
        "not_author",
    )
    expect(
        client_as(tenant, "manager").delete(comment_url),
        403,
        "not_author",
    )
    assert expect(client.patch(comment_url, {"body": "edited"}, format="json"), 200)["body"] == (
        "edited"
    )
    expect(client_as(tenant, "admin").delete(comment_url), 204)
    assert TaskComment.objects.filter(pk=body["id"]).count() == 0


def test_activity_endpoint(project, tenant):
    client = client_as(tenant, "manager")
    task = TaskFactory(project=project, title="a")
    client.patch(f"/api/v1/tasks/{task.pk}/", {"title": "b"}, format="json")
    client.patch(f"/api/v1/tasks/{task.pk}/", {"status": "in_progress"}, format="json")

    rows = client_as(tenant, "viewer").get(f"/api/v1/tasks/{task.pk}/activity/").json()["results"]
    assert [(r["verb"], r["changes"], r["actor"]) for r in rows] == [
        ("status_changed", {"status": ["todo", "in_progress"]}, str(client.membership.user_id)),
        ("updated", {"title": ["a", "b"]}, str(client.membership.user_id)),
    ]


def test_move_endpoint(project, tenant):
    a, b = TaskFactory(project=project, position=1.0), TaskFactory(project=project, position=2.0)
    client = client_as(tenant, "manager")
    body = expect(
        client.post(f"/api/v1/tasks/{b.pk}/move/", {"before": str(a.pk)}, format="json"), 200
    )
    assert body["position"] == 1.0 - 1024.0
    expect(
        client.post(f"/api/v1/tasks/{b.pk}/move/", {"position": 3, "after": str(a.pk)}, "json"),
        400,
        "invalid",
    )
    expect(client.post(f"/api/v1/tasks/{b.pk}/move/", {"before": str(b.pk)}, "json"), 400)


@pytest.mark.parametrize(
    ("role", "status", "code"),
    ANONYMOUS_AND_OUTSIDER
    + [(r, 403, "role_required") for r in ("viewer", "member")]
    + [(r, 201, None) for r in ("manager", "admin", "owner")],
)
def test_label_create_matrix(in_tenant, tenant, role, status, code):
    response = client_as(tenant, role).post(
        "/api/v1/labels/", {"name": "bug", "color": "#aa0000"}, format="json"
    )
    body = expect(response, status, code)
    assert Label.objects.count() == (1 if status == 201 else 0)
    if code == "role_required":
        assert body["permission"] == "tasks.manage_all"


def test_label_endpoints(in_tenant, tenant):
    client = client_as(tenant, "manager")
    label = expect(client.post("/api/v1/labels/", {"name": "Bug"}, format="json"), 201)
    expect(client.post("/api/v1/labels/", {"name": "bug"}, format="json"), 400, "label_name_taken")
    expect(client.post("/api/v1/labels/", {"name": "x", "color": "red"}, format="json"), 400)
    url = f"/api/v1/labels/{label['id']}/"
    assert expect(client.patch(url, {"color": "#00ff00"}, format="json"), 200)["color"] == (
        "#00ff00"
    )
    assert [
        x["name"] for x in client_as(tenant, "viewer").get("/api/v1/labels/").json()["results"]
    ] == ["Bug"]
    expect(client_as(tenant, "member").delete(url), 403, "role_required")
    expect(client.delete(url), 204)
    assert Label.objects.count() == 0


# --- list filters ---------------------------------------------------------------------------------


@pytest.fixture
def catalogue(project, tenant) -> dict[str, Any]:
    """Five tasks that each filter tells apart."""
    other_project = ProjectFactory()
    person = member_of(tenant)
    bug = LabelFactory(name="bug")
    parent = TaskFactory(project=project, title="Parent", status="in_progress")
    return {
        "project": project,
        "other_project": other_project,
        "person": person,
        "bug": bug,
        "parent": parent,
        "child": TaskFactory(
            project=project,
            parent=parent,
            title="Fix 100% of login bugs",
            priority="urgent",
            due_date=datetime.date(2025, 1, 10),
            assignees=[person.user_id],
        ),
        "labelled": TaskFactory(
            project=project,
            title="Write docs",
            priority="low",
            status="done",
            due_date=datetime.date(2025, 1, 20),
            labels=[bug],
        ),
        "elsewhere": TaskFactory(
            project=other_project, title="Invoice", priority="high", status="todo"
        ),
    }


def _titles(client: Any, params: dict[str, Any]) -> list[str]:
    response = client.get("/api/v1/tasks/", params)
    assert response.status_code == 200, response.content
    return [t["title"] for t in response.json()["results"]]


def test_list_filters(catalogue, tenant):
    client = client_as(tenant, "viewer")
    c = catalogue
    expectations = [
        ({"project": str(c["other_project"].pk)}, ["Invoice"]),
        ({"status": ["done", "in_progress"]}, ["Parent", "Write docs"]),
        ({"priority": ["urgent", "high"]}, ["Fix 100% of login bugs", "Invoice"]),
        ({"assignee": str(c["person"].user_id)}, ["Fix 100% of login bugs"]),
        ({"label": str(c["bug"].pk)}, ["Write docs"]),
        ({"due_before": "2025-01-10"}, ["Fix 100% of login bugs"]),
        ({"due_after": "2025-01-11"}, ["Write docs"]),
        (
            {"due_after": "2025-01-01", "due_before": "2025-01-31"},
            ["Fix 100% of login bugs", "Write docs"],
        ),
        ({"parent": str(c["parent"].pk)}, ["Fix 100% of login bugs"]),
        ({"search": "LOGIN"}, ["Fix 100% of login bugs"]),
        ({"search": "100%"}, ["Fix 100% of login bugs"]),
        ({"search": "1_0"}, []),  # LIKE wildcards are literal
        ({"ordering": "-priority"}, ["Fix 100% of login bugs", "Invoice", "Write docs", "Parent"]),
        ({"ordering": "due_date"}, ["Fix 100% of login bugs", "Write docs", "Parent", "Invoice"]),
    ]
    for params, titles in expectations:
        assert _titles(client, params) == titles, params


def test_list_rows_carry_their_relations(catalogue, tenant):
    rows = {
        t["title"]: t for t in client_as(tenant, "viewer").get("/api/v1/tasks/").json()["results"]
    }
    assert rows["Parent"]["subtask_count"] == 1
    assert rows["Fix 100% of login bugs"]["assignees"] == [str(catalogue["person"].user_id)]
    assert rows["Write docs"]["labels"] == [str(catalogue["bug"].pk)]


@pytest.mark.parametrize(
    "params", [{"status": "finished"}, {"ordering": "title"}, {"due_before": "soon"}]
)
def test_bad_filters_are_400(project, tenant, params):
    expect(client_as(tenant, "viewer").get("/api/v1/tasks/", params), 400, "invalid")


def test_list_query_count_does_not_grow_with_the_page(project, tenant):
    people = [member_of(tenant) for _ in range(3)]
    labels = [LabelFactory() for _ in range(3)]
    client = client_as(tenant, "member")

    def add_tasks(n: int) -> None:
        for _ in range(n):
            task = TaskFactory(
                project=project,
                assignees=[p.user_id for p in people],
                labels=labels,
                parent=Task.objects.first(),
            )
            TaskDependency.objects.create(task=task, blocked_by=TaskFactory(project=project))

    def count() -> tuple[int, int]:
        client.get("/api/v1/tasks/")  # warm the host cache
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/tasks/", {"page_size": 100})
        assert response.status_code == 200
        return len(ctx), len(response.json()["results"])

    add_tasks(1)  # 2 tasks (one blocker)
    few, rows = count()
    assert rows == 2
    add_tasks(20)  # 42 tasks
    many, rows = count()
    assert rows == 42
    assert many == few
    # search_path, membership, count, page, assignees, labels, blockers
    assert few <= 7
    assert TaskAssignee.objects.count() == 63


def test_search_uses_the_trigram_index(in_tenant):
    """``ILIKE`` on the bare column can use the ``gin_trgm_ops`` index; Django's
    ``icontains`` (``UPPER(title) LIKE UPPER(...)``) cannot."""
    from apps.tasks.selectors import ILike, contains_pattern

    TaskFactory(title="Deploy the login page")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: force the choice
    search = Task.all_objects.filter(ILike(F("title"), contains_pattern("login")))
    icontains = Task.all_objects.filter(title__icontains="login")

    assert "tasks_task_title_trgm" in search.explain()
    assert "tasks_task_title_trgm" not in icontains.explain()
    assert search.count() == icontains.count() == 1
