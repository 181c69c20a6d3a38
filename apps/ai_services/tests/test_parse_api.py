"""POST /api/v1/ai/parse/: drafts from sentences, matched against what the
caller may see, in the caller's timezone; nothing is saved."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.projects.constants import ProjectStatus
from apps.time_entries.models import TimeEntry

from .factories import ProjectFactory, TaskFactory, client_as

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai/parse/"
# Thursday 26 Nov 2026, 10:00 in Berlin.
NOW = datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def berlin(in_tenant):
    in_tenant.timezone = "Europe/Berlin"
    in_tenant.save(update_fields=["timezone"])
    return in_tenant


@time_machine.travel(NOW, tick=False)
def test_the_issue_example(berlin):
    website = ProjectFactory(name="Website redesign")
    ProjectFactory(name="Website")
    client = client_as(berlin, "member")

    text = "2h30 yesterday on Website redesign: fix login #bug"
    body = expect(client.post(URL, {"text": text}), 200)

    assert body["project"] == str(website.pk)
    assert body["project_name"] == "Website redesign"
    assert body["task"] is None
    assert body["description"] == "fix login"
    assert body["tags"] == ["bug"]
    assert body["date"] == "2026-11-25"
    assert body["duration_seconds"] == 9000
    assert body["started_at"] is None and body["ended_at"] is None
    assert body["unparsed"] == []
    assert body["confidence"]["date"] == 1.0
    assert body["confidence"]["duration"] == 1.0
    assert body["confidence"]["project"] == 1.0
    assert TimeEntry.objects.count() == 0  # nothing saved


@time_machine.travel(NOW, tick=False)
def test_range_in_the_users_timezone_and_client_name(berlin):
    acme_client = ProjectFactory(name="Portal").client
    acme_client.name = "Acme"
    acme_client.save()
    portal = acme_client.projects.get()
    client = client_as(berlin, "member")
    client.user.timezone = "America/New_York"
    client.user.save()

    body = expect(client.post(URL, {"text": "9-11:30 standup and planning for Acme"}), 200)

    assert body["project"] == str(portal.pk)
    assert body["description"] == "standup and planning"
    assert body["timezone"] == "America/New_York"
    assert body["date"] == "2026-11-26"
    ny = zoneinfo.ZoneInfo("America/New_York")
    assert datetime.datetime.fromisoformat(body["started_at"]) == datetime.datetime(
        2026, 11, 26, 9, 0, tzinfo=ny
    )
    assert datetime.datetime.fromisoformat(body["ended_at"]) == datetime.datetime(
        2026, 11, 26, 11, 30, tzinfo=ny
    )
    assert body["duration_seconds"] == 9000
    assert 0 < body["confidence"]["project"] < 1  # inferred from the client


@time_machine.travel(datetime.datetime(2026, 11, 26, 23, 30, tzinfo=datetime.UTC), tick=False)
def test_user_on_default_utc_gets_the_organization_timezone(berlin):
    client = client_as(berlin, "member")  # user timezone: the default UTC

    body = expect(client.post(URL, {"text": "45m code review"}), 200)

    assert body["timezone"] == "Europe/Berlin"
    assert body["date"] == "2026-11-27"  # already Friday in Berlin
    assert body["description"] == "code review"
    assert body["confidence"]["date"] == 0.6  # assumed, not said


def test_fuzzy_task_match_implies_its_project(in_tenant):
    project = ProjectFactory(name="Mobile app")
    task = TaskFactory(project=project, title="Push notifications")
    client = client_as(in_tenant, "member")

    body = expect(client.post(URL, {"text": "1h push notifcations testing"}), 200)

    assert body["task"] == str(task.pk)
    assert body["project"] == str(project.pk)
    assert body["description"] == "push notifcations testing"  # the task's words stay
    assert 0.75 <= body["confidence"]["task"] < 1


def test_typo_in_project_name_still_matches(in_tenant):
    project = ProjectFactory(name="Website redesign")
    client = client_as(in_tenant, "member")

    body = expect(client.post(URL, {"text": "2h webiste redesgin homepage"}), 200)

    assert body["project"] == str(project.pk)
    assert body["description"] == "homepage"


def test_a_name_written_as_a_name_wins(in_tenant):
    project = ProjectFactory(name="Newsletter")
    client = client_as(in_tenant, "member")

    first = expect(client.post(URL, {"text": "newsletter draft for Newsletter"}), 200)
    second = expect(client.post(URL, {"text": "Newslettre: newsletter draft"}), 200)

    assert first["project"] == second["project"] == str(project.pk)
    assert first["description"] == second["description"] == "newsletter draft"


def test_archived_and_hidden_projects_are_never_matched(in_tenant):
    ProjectFactory(name="Old website", status=ProjectStatus.ARCHIVED)
    ProjectFactory(name="Secret merger", is_private=True)
    client = client_as(in_tenant, "member")

    first = expect(client.post(URL, {"text": "1h old website fixes"}), 200)
    second = expect(client.post(URL, {"text": "1h secret merger memo"}), 200)

    assert first["project"] is None and second["project"] is None
    assert first["description"] == "old website fixes"


def test_other_organizations_names_are_not_matched(tenant, other_tenant):
    with tenant_context(other_tenant):
        ProjectFactory(name="Globex takeover")
    with tenant_context(tenant):
        client = client_as(tenant, "member")
        body = expect(client.post(URL, {"text": "1h globex takeover"}), 200)
    assert body["project"] is None


def test_unusable_parts_are_reported(in_tenant):
    client = client_as(in_tenant, "member")

    body = expect(client.post(URL, {"text": "30h 2026-02-30 something x7"}), 200)

    assert body["duration_seconds"] is None
    assert body["unparsed"] == ["2026-02-30", "30h", "x7"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 501}, "text"),
        ({"text": 5}, "text"),
        ({"text": ["a"]}, "text"),
    ],
)
def test_bad_input_is_400(in_tenant, payload, field):
    body = expect(client_as(in_tenant, "member").post(URL, payload, format="json"), 400, "invalid")
    if field:
        assert field in body["fields"]


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("outsider", 403, "not_a_member"),
        ("viewer", 403, "role_required"),
        ("member", 200, None),
        ("owner", 200, None),
    ],
)
def test_permissions(in_tenant, role, status, code):
    expect(client_as(in_tenant, role).post(URL, {"text": "1h x"}), status, code)
