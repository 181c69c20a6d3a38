"""Every write of the projects app emits exactly its realtime event, after
commit, in the organization's schema; refused writes emit nothing; events
about private projects go to their members and the roles that see all.

Each action runs inside the shared ``emitted()`` fixture (conftest), which
runs its on-commit callbacks and collects the events it dispatched.
"""

from __future__ import annotations

import pytest

from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory
from apps.websocket_server.events import DomainEvent

from .factories import ProjectFactory, ProjectMemberFactory, client_as

pytestmark = pytest.mark.django_db


def _ops(events: list[DomainEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.op) for e in events]


def test_client_events(in_tenant, emitted):
    api = client_as(in_tenant, "manager")
    with emitted() as created:
        client_id = api.post("/api/v1/clients/", {"name": "Initech"}, format="json").json()["id"]
    with emitted() as updated:
        api.patch(f"/api/v1/clients/{client_id}/", {"is_archived": True}, format="json")
    with emitted() as deleted:
        api.delete(f"/api/v1/clients/{client_id}/")
    with emitted() as restored:
        api.post(f"/api/v1/clients/{client_id}/restore/")
    with emitted() as restored_again:
        api.post(f"/api/v1/clients/{client_id}/restore/")

    assert _ops(created) == [("client", "created")]
    assert _ops(updated) == [("client", "updated")]
    assert _ops(deleted) == [("client", "deleted")]
    assert _ops(restored) == [("client", "restored")]
    assert restored_again == []  # nothing changed, nothing to say
    assert created[0].schema_name == in_tenant.schema_name
    assert created[0].data == {
        "id": client_id,
        "name": "Initech",
        "is_archived": False,
        "deleted_at": None,
    }
    assert updated[0].user_ids is None


def test_project_events(in_tenant, emitted):
    api = client_as(in_tenant, "manager")
    with emitted() as created:
        project_id = api.post(
            "/api/v1/projects/", {"name": "Website", "hourly_rate": "120"}, format="json"
        ).json()["id"]
    with emitted() as updated:
        api.patch(f"/api/v1/projects/{project_id}/", {"status": "on_hold"}, format="json")
    with emitted() as deleted:
        api.delete(f"/api/v1/projects/{project_id}/")
    with emitted() as restored:
        api.post(f"/api/v1/projects/{project_id}/restore/")

    assert _ops(created) == [("project", "created")]
    assert _ops(updated) == [("project", "updated")]
    assert _ops(deleted) == [("project", "deleted")]
    assert _ops(restored) == [("project", "restored")]
    assert created[0].data == {
        "id": project_id,
        "name": "Website",
        "code": "",
        "client": None,
        "status": "active",
        "is_archived": False,
        "is_private": False,
        "color": "#4f46e5",
        "start_date": None,
        "end_date": None,
        "deleted_at": None,
    }  # no rate: the audience is wider than rates.view
    assert updated[0].data["status"] == "on_hold"
    assert deleted[0].data["deleted_at"] is not None
    assert created[0].user_ids is None  # a public project: the whole organization


def test_refused_writes_emit_nothing(in_tenant, emitted):
    project = ProjectFactory(name="Website", client=None)
    manager, member = client_as(in_tenant, "manager"), client_as(in_tenant, "member")
    with emitted() as events:
        responses = [
            member.patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json"),
            manager.post("/api/v1/projects/", {"name": "website"}, format="json"),
            manager.patch(
                f"/api/v1/projects/{project.pk}/",
                {"start_date": "2001-01-01", "end_date": "2000-01-01"},
                format="json",
            ),
            manager.post(
                f"/api/v1/projects/{project.pk}/members/",
                {"user": str(UserFactory().pk)},
                format="json",
            ),
            manager.post(
                f"/api/v1/projects/{project.pk}/dependencies/",
                {"depends_on": str(project.pk)},
                format="json",
            ),
        ]
    assert [r.status_code for r in responses] == [403, 409, 400, 400, 400]
    assert events == []


def test_private_project_events_go_to_its_members_and_managers(in_tenant, emitted):
    project = ProjectFactory(is_private=True)
    insider = MembershipFactory(organization=in_tenant, role="member").user
    MembershipFactory(organization=in_tenant, role="member")  # an outsider to the project
    ProjectMemberFactory(project=project, user_id=insider.pk)
    api = client_as(in_tenant, "admin")

    with emitted() as events:
        api.patch(f"/api/v1/projects/{project.pk}/", {"name": "Secret"}, format="json")

    assert _ops(events) == [("project", "updated")]
    assert set(events[0].user_ids) == {str(insider.pk), str(api.user.pk)}


def test_member_milestone_and_dependency_events(in_tenant, emitted):
    project, other = ProjectFactory(name="A"), ProjectFactory(name="B")
    user = MembershipFactory(organization=in_tenant).user
    api = client_as(in_tenant, "manager")
    base = f"/api/v1/projects/{project.pk}"

    with emitted() as member_events:
        member_id = api.post(f"{base}/members/", {"user": str(user.pk)}, format="json").json()["id"]
        api.patch(f"{base}/members/{member_id}/", {"role": "lead"}, format="json")
        api.delete(f"{base}/members/{member_id}/")
    with emitted() as milestone_events:
        milestone_id = api.post(
            f"{base}/milestones/", {"name": "Beta", "due_date": "2026-06-01"}, format="json"
        ).json()["id"]
        api.patch(f"{base}/milestones/{milestone_id}/", {"completed": True}, format="json")
        api.delete(f"{base}/milestones/{milestone_id}/")
    with emitted() as dependency_events:
        dependency_id = api.post(
            f"{base}/dependencies/", {"depends_on": str(other.pk)}, format="json"
        ).json()["id"]
        api.delete(f"{base}/dependencies/{dependency_id}/")

    assert _ops(member_events) == [
        ("project.member", "created"),
        ("project.member", "updated"),
        ("project.member", "deleted"),
    ]
    assert member_events[0].data == {
        "id": member_id,
        "project": str(project.pk),
        "user": str(user.pk),
        "role": "member",
    }
    assert _ops(milestone_events) == [
        ("project.milestone", "created"),
        ("project.milestone", "updated"),
        ("project.milestone", "deleted"),
    ]
    assert milestone_events[1].data["completed_at"] is not None
    assert _ops(dependency_events) == [
        ("project.dependency", "created"),
        ("project.dependency", "deleted"),
    ]
    assert dependency_events[0].data == {
        "id": dependency_id,
        "project": str(project.pk),
        "depends_on": str(other.pk),
    }


def test_removing_someone_from_a_private_project_tells_them(in_tenant, emitted):
    project = ProjectFactory(is_private=True)
    user = MembershipFactory(organization=in_tenant).user
    member = ProjectMemberFactory(project=project, user_id=user.pk)
    api = client_as(in_tenant, "manager")

    with emitted() as events:
        api.delete(f"/api/v1/projects/{project.pk}/members/{member.pk}/")

    assert _ops(events) == [("project.member", "deleted")]
    assert str(user.pk) in events[0].user_ids
