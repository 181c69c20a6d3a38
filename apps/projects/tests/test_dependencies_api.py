"""Project dependencies (finish-to-start) and the timeline: cycles refused with
nothing written, exact earliest starts on a small graph, visibility."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.common.testing import MANAGER_WRITE_MATRIX, expect
from apps.projects.models import Project, ProjectDependency

from .factories import ProjectDependencyFactory, ProjectFactory, ProjectMemberFactory, client_as

pytestmark = pytest.mark.django_db


def _edges() -> set[tuple[str, str]]:
    return {
        (d.project.name, d.depends_on.name)
        for d in ProjectDependency.objects.select_related("project", "depends_on")
    }


def _link(client: Any, project: Project, depends_on: Any) -> Any:
    return client.post(
        f"/api/v1/projects/{project.pk}/dependencies/",
        {"depends_on": str(getattr(depends_on, "pk", depends_on))},
        format="json",
    )


def _d(value: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


# --- links ----------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_write_matrix(in_tenant, role, status, code):
    a, b, c = (ProjectFactory(name=n) for n in "ABC")
    existing = ProjectDependencyFactory(project=c, depends_on=a)
    client = client_as(in_tenant, role)

    created = _link(client, b, a)
    removed = client.delete(f"/api/v1/projects/{c.pk}/dependencies/{existing.pk}/")

    if status:
        expect(created, status, code)
        expect(removed, status, code)
        assert _edges() == {("C", "A")}
    else:
        expect(created, 201)
        expect(removed, 204)
        assert _edges() == {("B", "A")}


def test_create_returns_the_link_and_lists_it(in_tenant):
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    client = client_as(in_tenant, "manager")

    response = _link(client, b, a)

    expect(response, 201)
    link = ProjectDependency.objects.get()
    assert response.json() == {
        "id": str(link.pk),
        "project": str(b.pk),
        "depends_on": str(a.pk),
        "depends_on_name": "A",
        "created_at": response.json()["created_at"],
    }
    listed = client_as(in_tenant, "viewer").get(f"/api/v1/projects/{b.pk}/dependencies/")
    assert [r["id"] for r in listed.json()["results"]] == [str(link.pk)]


def test_a_cycle_is_refused_and_nothing_is_written(in_tenant):
    a, b, c = (ProjectFactory(name=n) for n in "ABC")
    client = client_as(in_tenant, "manager")
    expect(_link(client, b, a), 201)  # B after A
    expect(_link(client, c, b), 201)  # C after B

    response = _link(client, a, c)  # A after C: A → B → C → A

    expect(response, 409, "dependency_cycle")
    assert "cycle" in response.json()["message"]
    assert _edges() == {("B", "A"), ("C", "B")}
    expect(_link(client, b, c), 409, "dependency_cycle")  # the short cycle too
    assert _edges() == {("B", "A"), ("C", "B")}


def test_links_of_deleted_projects_still_count_for_cycles(in_tenant):
    a, b, c = (ProjectFactory(name=n) for n in "ABC")
    ProjectDependencyFactory(project=b, depends_on=a)
    ProjectDependencyFactory(project=c, depends_on=b)
    b.soft_delete()  # restoring B later must not bring back a cycle

    expect(_link(client_as(in_tenant, "manager"), a, c), 409, "dependency_cycle")
    assert _edges() == {("B", "A"), ("C", "B")}


def test_self_duplicate_unknown_and_foreign_links_are_refused(in_tenant, other_tenant):
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    gone = ProjectFactory(name="Gone")
    gone.soft_delete()
    existing = ProjectDependencyFactory(project=b, depends_on=a)
    with tenant_context(other_tenant):
        foreign = ProjectFactory(name="Globex")
    client = client_as(in_tenant, "manager")

    itself = _link(client, a, a)
    duplicate = _link(client, b, a)
    unknown = _link(client, a, "00000000-0000-0000-0000-000000000000")
    deleted = _link(client, a, gone)
    other_org = _link(client, a, foreign)
    malformed = _link(client, a, "nope")

    expect(itself, 400, "dependency_self")
    assert "depends_on" in itself.json()["fields"]
    expect(duplicate, 409, "dependency_exists")
    assert duplicate.json()["dependency"] == str(existing.pk)
    for response in (unknown, deleted, other_org, malformed):
        expect(response, 400, "invalid")
        assert "depends_on" in response.json()["fields"]
    assert _edges() == {("B", "A")}


def test_a_link_of_another_project_is_404(in_tenant):
    a, b, c = (ProjectFactory(name=n) for n in "ABC")
    link = ProjectDependencyFactory(project=b, depends_on=a)

    response = client_as(in_tenant, "owner").delete(
        f"/api/v1/projects/{c.pk}/dependencies/{link.pk}/"
    )

    expect(response, 404)
    assert _edges() == {("B", "A")}


def test_an_acme_project_is_unknown_on_globex(in_tenant, other_tenant):
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    globex = client_as(other_tenant, "owner")
    expect(_link(globex, b, a), 404)
    assert _edges() == set()


# --- timeline -------------------------------------------------------------------------


def _timeline(client: Any) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/projects/timeline/?page_size=500")
    expect(response, 200)
    return {row["name"]: row for row in response.json()["results"]}


def _project(name: str, start: str | None = None, end: str | None = None, **kw: Any) -> Project:
    return ProjectFactory(name=name, start_date=_d(start), end_date=_d(end), **kw)


def test_timeline_values_on_a_small_graph(in_tenant):
    a = _project("A", "2026-01-01", "2026-01-31")
    b = _project("B", "2026-01-20", "2026-02-10")  # 21 days, wants to start before A ends
    c = _project("C", "2026-03-01", "2026-03-31")
    d = _project("D", "2026-02-15")  # no end date
    e = _project("E")  # no dates at all
    _project("F", "2026-01-10", "2026-01-12")  # free
    gone = _project("Gone", "2026-01-01", "2026-12-31")
    for project, after in [(b, a), (c, b), (d, a), (d, b), (e, d), (c, gone)]:
        ProjectDependencyFactory(project=project, depends_on=after)
    gone.soft_delete()

    rows = _timeline(client_as(in_tenant, "manager"))

    def summary(name: str) -> tuple[Any, ...]:
        row = rows[name]
        return row["earliest_start"], row["earliest_finish"], row["blocked"]

    assert set(rows) == {"A", "B", "C", "D", "E", "F"}
    assert summary("A") == (None, "2026-01-31", False)
    # B may start when A ends (31 Jan), 11 days late: it finishes 11 days late.
    assert summary("B") == ("2026-01-31", "2026-02-21", True)
    # C waits for B's pushed finish, not its planned one; the deleted project is ignored.
    assert summary("C") == ("2026-02-21", "2026-03-31", False)
    assert summary("D") == ("2026-02-21", "2026-02-21", True)
    assert summary("E") == ("2026-02-21", "2026-02-21", False)
    assert summary("F") == (None, "2026-01-12", False)
    assert sorted(rows["D"]["depends_on"]) == sorted([str(a.pk), str(b.pk)])
    assert rows["C"]["depends_on"] == [str(b.pk)]
    assert rows["A"] == {
        "id": str(a.pk),
        "name": "A",
        "status": "active",
        "start_date": "2026-01-01",
        "end_date": "2026-01-31",
        "earliest_start": None,
        "earliest_finish": "2026-01-31",
        "depends_on": [],
        "blocked": False,
    }
    # Ordered by planned start (undated last), then name.
    assert list(rows) == ["A", "F", "B", "D", "C", "E"]


def test_timeline_shows_only_visible_projects_but_hidden_ones_still_constrain(in_tenant):
    hidden = _project("Hidden", "2026-01-01", "2026-04-30", is_private=True)
    mine = _project("Mine", "2026-01-01", "2026-01-31", is_private=True)
    after_hidden = _project("After hidden", "2026-02-01", "2026-02-28")
    after_mine = _project("After mine", "2026-02-01", "2026-02-28")
    ProjectDependencyFactory(project=after_hidden, depends_on=hidden)
    ProjectDependencyFactory(project=after_mine, depends_on=mine)
    client = client_as(in_tenant, "member")
    ProjectMemberFactory(project=mine, user_id=client.user.pk)

    rows = _timeline(client)

    assert set(rows) == {"Mine", "After hidden", "After mine"}
    assert rows["After hidden"]["depends_on"] == []
    assert (rows["After hidden"]["earliest_start"], rows["After hidden"]["blocked"]) == (
        "2026-04-30",
        True,
    )
    assert rows["After mine"]["depends_on"] == [str(mine.pk)]
    assert set(_timeline(client_as(in_tenant, "manager"))) == {
        "Hidden",
        "Mine",
        "After hidden",
        "After mine",
    }


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]
    + [(r, 200, None) for r in ("viewer", "member", "manager", "admin", "owner")],
)
def test_timeline_read_matrix(in_tenant, role, status, code):
    _project("A", "2026-01-01", "2026-01-31")
    response = client_as(in_tenant, role).get("/api/v1/projects/timeline/")
    expect(response, status, code)
    if status == 200:
        assert [r["name"] for r in response.json()["results"]] == ["A"]


def test_timeline_query_count_does_not_grow_with_the_graph(in_tenant):
    client = client_as(in_tenant, "member")
    client.get("/api/v1/projects/timeline/")  # warm the host cache

    def build(n: int) -> None:
        previous = None
        for _ in range(n):
            project = ProjectFactory(start_date=datetime.date(2026, 1, 1))
            if previous is not None:
                ProjectDependencyFactory(project=project, depends_on=previous)
            previous = project

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/projects/timeline/").status_code == 200
        return len(ctx)

    build(3)
    few = count()
    build(27)
    assert count() == few
