"""The Time page (``/``) of an organization host and its timer forms: who may
open it, what it shows, and that its forms write what the API writes (same
services, same rules, same messages)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import app_queries
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.iam.web.access import SESSION_ORGANIZATION_KEY
from apps.organizations.constants import MembershipStatus
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.constants import ProjectStatus
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.tests.factories import TaskFactory
from apps.time_entries.models import TimeEntry
from tenants.testing import TenantAPIClient

from .factories import TimeEntryFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)


def browser(tenant) -> TenantAPIClient:
    return TenantAPIClient(tenant, HTTP_ACCEPT="text/html")


def signed_in(tenant, role="member", membership=None) -> TenantAPIClient:
    """A browser signed in on ``tenant``'s host through the sign-in form."""
    membership = membership or MembershipFactory(organization=tenant, role=role)
    client = browser(tenant)
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    client.membership = membership
    return client


# --- who may open the page ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/timer/start/", "/timer/stop/"])
def test_anonymous_is_sent_to_this_hosts_signin(tenant, path):
    client = browser(tenant)

    response = client.get(path) if path == "/" else client.post(path)

    assert response.status_code == 302
    # Back to the Time page afterwards (a form's URL takes only POST).
    assert response["Location"] == "/signin/?next=%2F"


def test_session_of_another_host_is_refused(in_tenant, other_tenant):
    """A member of both organizations signed in on globex's host: the same
    session id sent to acme's host counts as anonymous there."""
    membership = MembershipFactory(organization=other_tenant)
    MembershipFactory(organization=in_tenant, user=membership.user)
    on_globex = signed_in(other_tenant, membership=membership)
    on_acme = browser(in_tenant)
    on_acme.cookies = on_globex.cookies

    response = on_acme.get("/")

    assert response.status_code == 302 and response["Location"].startswith("/signin/")
    assert on_acme.post("/timer/stop/").status_code == 302


def test_api_session_without_the_web_signin_is_sent_to_signin(in_tenant):
    client = client_as(in_tenant, "member")  # force_login-like: no host binding
    client.force_login(client.user)

    response = client.get("/", HTTP_ACCEPT="text/html")

    assert response.status_code == 302


def test_member_of_another_organization_gets_an_html_403(in_tenant, other_tenant):
    """A user whose session carries acme's binding but who is no longer a
    member of acme (deactivated, or a member of globex only) is refused."""
    client = signed_in(in_tenant)
    MembershipFactory(organization=other_tenant, user=client.membership.user)
    client.membership.status = MembershipStatus.DEACTIVATED
    client.membership.save(update_fields=["status"])

    response = client.get("/")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "You are not a member of this organization." in response.content.decode()
    assert client.post("/timer/start/", {"project": "x"}).status_code == 403
    assert not TimeEntry.objects.exists()


def test_outsider_with_a_forged_binding_is_refused(in_tenant):
    client = client_as(in_tenant, "outsider")
    client.force_login(client.user)
    session = client.session
    session[SESSION_ORGANIZATION_KEY] = str(in_tenant.pk)
    session.save()

    response = client.get("/", HTTP_ACCEPT="text/html")

    assert response.status_code == 403
    assert "You are not a member of this organization." in response.content.decode()


# --- what the page shows ----------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_page_shows_the_timer_bar_and_this_weeks_entries_by_day_with_totals(in_tenant):
    client = signed_in(in_tenant)
    user_id = client.membership.user_id
    project = ProjectFactory(name="Apollo")
    TaskFactory(project=project, title="Design")
    ProjectFactory(name="Old", status=ProjectStatus.ARCHIVED)
    TimeEntryFactory(
        user_id=user_id, project=project, description="Spec", started_at=NOW - 3 * HOUR
    )
    TimeEntryFactory(
        user_id=user_id,
        project=project,
        description="Review",
        started_at=NOW - 5 * HOUR,
        ended_at=NOW - 4 * HOUR - datetime.timedelta(minutes=30),
        duration_seconds=1800,
    )
    TimeEntryFactory(
        user_id=user_id, project=project, description="Yesterday", started_at=NOW - 30 * HOUR
    )
    TimeEntryFactory(project=project, description="Someone else's", started_at=NOW - 2 * HOUR)
    TimeEntryFactory(
        user_id=user_id, project=project, description="Last week", started_at=NOW - 8 * 24 * HOUR
    )

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_project">Project</label>' in html
    assert '<label for="id_task">Task</label>' in html
    assert '<label for="id_description">Description</label>' in html
    assert ">Apollo</option>" in html and ">Design</option>" in html
    assert ">Old</option>" not in html  # archived projects take no time
    assert ">Start timer</button>" in html and "Stop timer" not in html
    assert 'role="timer"' not in html
    assert "Spec" in html and "1:00:00" in html
    assert "Review" in html and "0:30:00" in html
    assert "Someone else" not in html and "Last week" not in html
    # Grouped by day (the organization's week starts on Monday), today first.
    assert (
        html.index(">Today</h3>") < html.index("Spec") < html.index(">Wednesday 25 November</h3>")
    )
    assert html.index(">Wednesday 25 November</h3>") < html.index("Yesterday")
    assert "Total today: <strong>1:30:00</strong>" in html
    assert "Total this week: <strong>2:30:00</strong>" in html
    assert 'href="#main"' in html  # skip link
    assert 'aria-label="Main"' in html and ">Time</a>" in html and ">Sign out</button>" in html
    assert "<script>" not in html and "style=" not in html  # nothing inline (CSP)
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@time_machine.travel(NOW, tick=False)
def test_query_count_is_bounded_whatever_the_number_of_entries(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory()
    now = NOW.replace(hour=0)
    TimeEntryFactory(user_id=client.membership.user_id, project=project, started_at=now)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(app_queries(captured))

    few = count()
    for i in range(1, 12):
        TimeEntryFactory(
            user_id=client.membership.user_id,
            project=ProjectFactory(),
            task=TaskFactory(),
            started_at=now + datetime.timedelta(minutes=61 * i),
        )
    TimeEntryFactory(
        user_id=client.membership.user_id, project=project, started_at=NOW - HOUR, running=True
    )
    many = count()

    assert few == many
    assert many <= 10


# --- the forms call the API's services ---------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_start_and_stop_through_the_forms_write_what_the_api_writes(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory(name="Apollo")
    task = TaskFactory(project=project)

    started = client.post(
        "/timer/start/",
        {"project": str(project.pk), "task": str(task.pk), "description": "Write the spec"},
    )

    assert started.status_code == 302 and started["Location"] == "/"
    entry = TimeEntry.objects.get()
    assert (entry.user_id, entry.project_id, entry.task_id) == (
        client.membership.user_id,
        project.pk,
        task.pk,
    )
    assert entry.description == "Write the spec"
    assert entry.started_at == NOW and entry.ended_at is None
    assert entry.source == "timer"  # the timer service, as POST /api/v1/timer/start/
    page = client.get("/").content.decode()
    assert 'role="timer"' in page and ">Stop timer</button>" in page
    assert "Start timer" not in page
    assert "Running since 15:00" in page  # readable without JavaScript
    api = client_as(in_tenant, client.membership).get("/api/v1/timer/").json()
    assert api["id"] == str(entry.pk) and api["is_running"] is True

    with time_machine.travel(NOW + HOUR, tick=False):
        stopped = client.post("/timer/stop/")

    assert stopped.status_code == 302
    entry.refresh_from_db()
    assert entry.ended_at == NOW + HOUR and entry.duration_seconds == 3600


@time_machine.travel(NOW, tick=False)
def test_service_error_is_shown_next_to_the_form_with_what_was_typed(in_tenant):
    client = signed_in(in_tenant)
    project = ProjectFactory(name="Apollo")
    other_task = TaskFactory()  # on another project

    response = client.post(
        "/timer/start/",
        {"project": str(project.pk), "task": str(other_task.pk), "description": "Kept text"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    api = client_as(in_tenant, client.membership).post(
        "/api/v1/timer/start/",
        {"project": str(project.pk), "task": str(other_task.pk)},
        format="json",
    )
    assert api.status_code == 400
    assert api.json()["message"] in html  # the API's message, word for word
    assert 'value="Kept text"' in html
    assert f'<option value="{project.pk}" selected>Apollo</option>' in html
    assert not TimeEntry.objects.exists()


def test_missing_project_is_a_field_error(in_tenant):
    client = signed_in(in_tenant)

    response = client.post("/timer/start/", {"project": "", "description": "Typed"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html and 'value="Typed"' in html


def test_stop_without_a_running_timer_shows_the_apis_conflict(in_tenant):
    client = signed_in(in_tenant)

    response = client.post("/timer/stop/")

    assert response.status_code == 409
    assert "No timer is running." in response.content.decode()


def test_viewer_sees_the_page_but_cannot_start_a_timer(in_tenant):
    client = signed_in(in_tenant, role="viewer")
    project = ProjectFactory()

    page = client.get("/")
    response = client.post("/timer/start/", {"project": str(project.pk)})
    api = client_as(in_tenant, "viewer").post(
        "/api/v1/timer/start/", {"project": str(project.pk)}, format="json"
    )

    assert page.status_code == 200
    assert "Start timer" not in page.content.decode()
    assert api.status_code == 403  # the API's rule ...
    assert response.status_code == 403  # ... is the page's
    assert api.json()["message"] in response.content.decode()
    assert not TimeEntry.objects.exists()


def test_task_field_lists_the_chosen_projects_tasks(in_tenant):
    client = signed_in(in_tenant)
    apollo, gemini = ProjectFactory(name="Apollo"), ProjectFactory(name="Gemini")
    TaskFactory(project=apollo, title="Launch")
    TaskFactory(project=gemini, title="Orbit")

    only_apollo = client.get("/timer/task-field/", {"project": str(apollo.pk)})
    every = client.get("/timer/task-field/")
    page = client.get("/").content.decode()

    assert only_apollo.status_code == 200
    html = only_apollo.content.decode()
    assert '<div id="task-field">' in html and '<label for="id_task">Task</label>' in html
    assert ">Launch</option>" in html and ">Orbit</option>" not in html
    assert ">Launch</option>" in every.content.decode()
    assert ">Orbit</option>" in every.content.decode()
    assert 'hx-get="/timer/task-field/"' in page  # htmx refreshes it on a project change


# --- the idle prompt ------------------------------------------------------------------------


def _running_with_idle(client, start_minutes=30, end_minutes=90):
    from .factories import IdlePeriodFactory

    running = TimeEntryFactory(
        user_id=client.membership.user_id,
        project=ProjectFactory(name="Apollo"),
        started_at=NOW - 2 * HOUR,
        running=True,
        description="Deep work",
    )
    begin = NOW - 2 * HOUR
    idle = IdlePeriodFactory(
        entry=running,
        started_at=begin + datetime.timedelta(minutes=start_minutes),
        ended_at=begin + datetime.timedelta(minutes=end_minutes),
    )
    return running, idle


@time_machine.travel(NOW, tick=False)
def test_a_pending_idle_period_is_asked_about_with_the_apis_three_actions(in_tenant):
    client = signed_in(in_tenant)
    _running_with_idle(client)

    page = client.get("/").content.decode()

    assert "You were idle" in page
    assert "No activity from 13:30 to 14:30 (60 min)" in page  # organization zone: UTC
    for value, label in (
        ("keep", "Keep"),
        ("discard", "Discard"),
        ("discard_and_continue", "Discard and continue"),
    ):
        assert f'name="action" value="{value}"' in page
        assert f">{label}</button>" in page


@time_machine.travel(NOW, tick=False)
def test_discard_trims_the_running_entry_as_the_api_does(in_tenant):
    from apps.time_entries.constants import IdleResolution
    from apps.time_entries.models import IdlePeriod

    client = signed_in(in_tenant)
    running, idle = _running_with_idle(client)

    response = client.post(f"/idle/{idle.pk}/resolve/", {"action": "discard"})

    assert response.status_code == 302 and response["Location"] == "/"
    running.refresh_from_db()
    assert running.ended_at == idle.started_at  # stopped at the idle start
    assert IdlePeriod.objects.get().resolution == IdleResolution.DISCARDED
    assert "You were idle" not in client.get("/").content.decode()


@time_machine.travel(NOW, tick=False)
def test_discard_and_continue_starts_a_new_timer(in_tenant):
    client = signed_in(in_tenant)
    running, idle = _running_with_idle(client)

    client.post(f"/idle/{idle.pk}/resolve/", {"action": "discard_and_continue"})

    new = TimeEntry.objects.get(ended_at__isnull=True)
    assert new.pk != running.pk and new.description == "Deep work" and new.started_at == NOW


@time_machine.travel(NOW, tick=False)
def test_a_second_decision_shows_the_apis_conflict(in_tenant):
    client = signed_in(in_tenant)
    _running, idle = _running_with_idle(client)
    assert client.post(f"/idle/{idle.pk}/resolve/", {"action": "keep"}).status_code == 302

    again = client.post(f"/idle/{idle.pk}/resolve/", {"action": "discard"})
    bad = client.post(f"/idle/{idle.pk}/resolve/", {"action": "explode"})

    assert again.status_code == 409
    assert "already resolved" in again.content.decode()
    assert bad.status_code == 400


@time_machine.travel(NOW, tick=False)
def test_another_members_idle_period_is_not_found(in_tenant):
    owner = signed_in(in_tenant)
    _running, idle = _running_with_idle(owner)
    other = signed_in(in_tenant)

    assert other.post(f"/idle/{idle.pk}/resolve/", {"action": "keep"}).status_code == 404
    assert "You were idle" not in other.get("/").content.decode()
