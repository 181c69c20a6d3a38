"""Milestones: managers write them, everyone who sees the project reads them;
``completed`` sets and clears ``completed_at``."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from apps.common.testing import MANAGER_WRITE_MATRIX, expect
from apps.projects.models import Milestone

from .factories import MilestoneFactory, ProjectFactory, client_as

pytestmark = pytest.mark.django_db


def _snapshot() -> list[dict[str, Any]]:
    return list(Milestone.objects.order_by("id").values())


@pytest.mark.parametrize(("role", "status", "code"), MANAGER_WRITE_MATRIX)
def test_write_matrix(in_tenant, role, status, code):
    project = ProjectFactory()
    existing = MilestoneFactory(project=project, name="Beta")
    before = _snapshot()
    client = client_as(in_tenant, role)
    base = f"/api/v1/projects/{project.pk}/milestones/"

    created = client.post(base, {"name": "Launch", "due_date": "2026-09-01"}, format="json")
    changed = client.patch(f"{base}{existing.pk}/", {"name": "Beta 2"}, format="json")
    removed = client.delete(f"{base}{existing.pk}/")

    if status:
        for response in (created, changed, removed):
            expect(response, status, code)
        assert _snapshot() == before
    else:
        expect(created, 201)
        expect(changed, 200)
        expect(removed, 204)
        assert list(Milestone.objects.values_list("name", flat=True)) == ["Launch"]


@pytest.mark.parametrize("role", ["viewer", "member", "manager"])
def test_everyone_who_sees_the_project_reads_its_milestones(in_tenant, role):
    project = ProjectFactory()
    MilestoneFactory(project=project, name="Late", due_date=datetime.date(2026, 9, 1))
    MilestoneFactory(project=project, name="Early", due_date=datetime.date(2026, 3, 1))

    response = client_as(in_tenant, role).get(f"/api/v1/projects/{project.pk}/milestones/")

    expect(response, 200)
    rows = response.json()["results"]
    assert [(r["name"], r["due_date"], r["completed"]) for r in rows] == [
        ("Early", "2026-03-01", False),
        ("Late", "2026-09-01", False),
    ]


def test_completed_sets_keeps_and_clears_completed_at(in_tenant):
    project = ProjectFactory()
    client = client_as(in_tenant, "manager")
    created = client.post(
        f"/api/v1/projects/{project.pk}/milestones/",
        {"name": "Launch", "due_date": "2026-09-01", "completed": True},
        format="json",
    ).json()
    url = f"/api/v1/projects/{project.pk}/milestones/{created['id']}/"
    first = created["completed_at"]
    assert created["completed"] is True and first is not None

    again = client.patch(url, {"completed": True}, format="json").json()
    cleared = client.patch(url, {"completed": False}, format="json").json()
    renamed = client.patch(url, {"name": "Go live"}, format="json").json()

    assert again["completed_at"] == first
    assert (cleared["completed"], cleared["completed_at"]) == (False, None)
    assert (renamed["name"], renamed["completed"], renamed["due_date"]) == (
        "Go live",
        False,
        "2026-09-01",
    )
    assert Milestone.objects.get().completed_at is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Launch"}, "due_date"),
        ({"due_date": "2026-09-01"}, "name"),
        ({"name": "", "due_date": "2026-09-01"}, "name"),
        ({"name": "Launch", "due_date": "soon"}, "due_date"),
        ({"name": "Launch", "due_date": "2026-09-01", "completed": "maybe"}, "completed"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(in_tenant, payload, field):
    project = ProjectFactory()
    response = client_as(in_tenant, "manager").post(
        f"/api/v1/projects/{project.pk}/milestones/", payload, format="json"
    )
    expect(response, 400)
    assert field in response.json()["fields"]
    assert not Milestone.objects.exists()


def test_a_milestone_of_another_project_is_404(in_tenant):
    project = ProjectFactory()
    foreign = MilestoneFactory(name="Other")
    client = client_as(in_tenant, "owner")
    url = f"/api/v1/projects/{project.pk}/milestones/{foreign.pk}/"

    expect(client.get(url), 404)
    expect(client.patch(url, {"name": "x"}, format="json"), 404)
    expect(client.delete(url), 404)
    foreign.refresh_from_db()
    assert foreign.name == "Other"


def test_milestones_of_a_deleted_project_are_404(in_tenant):
    project = ProjectFactory()
    MilestoneFactory(project=project)
    project.soft_delete()
    response = client_as(in_tenant, "owner").get(f"/api/v1/projects/{project.pk}/milestones/")
    expect(response, 404)
