"""``manage.py tenants …``: every sub-command, its output and its errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import (
    get_tenant_domain_model,
    get_tenant_model,
    schema_exists,
    tenant_context,
)

from apps.organizations.models import Membership
from tenants.models import TemplateSnapshot
from tenants.provisioning import provision_tenant, template_schema_name
from tenants.testing import manage_env

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("tenants", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_failing(*args: str) -> CommandError:
    with pytest.raises(CommandError) as err:
        call_command("tenants", *args, stdout=io.StringIO(), stderr=io.StringIO())
    return err.value


def create_args(slug: str, *extra: str, email: str = "owner@newco.test") -> list[str]:
    return ["create", f"--slug={slug}", "--name", "New Co", "--owner-email", email, *extra]


def counts() -> tuple[int, int, int, int]:
    return (
        get_tenant_model().objects.count(),
        get_tenant_domain_model().objects.count(),
        Membership.objects.count(),
        get_user_model().objects.count(),
    )


# --- create ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "template", "migrate"])
def test_create_builds_org_domain_owner_and_schema(method):
    out = run(
        *create_args("newco", "--method", method, email="Owner@NewCo.test"),
        "--owner-password",
        "s3cret-pass",
        "--timezone",
        "Europe/Berlin",
        "--currency",
        "EUR",
    )

    org = get_tenant_model().objects.get(slug="newco")
    assert org.name == "New Co"
    assert org.status == "trialing"
    assert org.timezone == "Europe/Berlin"
    assert org.currency == "EUR"
    assert schema_exists(org.schema_name)
    assert list(org.domains.values_list("domain", "is_primary")) == [("newco.localhost", True)]
    membership = Membership.objects.get(organization=org)
    assert membership.role == "owner"
    assert membership.user.email == "owner@newco.test"
    assert membership.user.check_password("s3cret-pass")
    expected_method = "migrate" if method == "migrate" else "template"
    assert out.startswith(
        f"created newco (newco.localhost) schema={org.schema_name} via {expected_method} in "
    )
    assert out.rstrip().endswith(" ms")


def test_create_with_migrate_method_gives_a_usable_schema():
    run(*create_args("migrated", "--method", "migrate"))

    org = get_tenant_model().objects.get(slug="migrated")
    with tenant_context(org):
        from apps.projects.models import Project

        assert Project.objects.count() == 0
        Project.objects.create(name="First")
        assert list(Project.objects.values_list("name", flat=True)) == ["First"]


def test_create_without_password_gives_the_owner_an_unusable_one():
    run(*create_args("nopass"))

    owner = get_user_model().objects.get(email="owner@newco.test")
    assert not owner.has_usable_password()


def test_create_normalises_the_slug():
    run(*create_args("  MixedCase  "))

    assert get_tenant_model().objects.filter(slug="mixedcase").exists()
    assert get_tenant_domain_model().objects.filter(domain="mixedcase.localhost").exists()


def test_create_with_a_taken_slug_is_refused_and_writes_nothing():
    before = counts()

    err = run_failing(*create_args("acme", email="someone-new@x.test"))

    assert err.returncode == 2
    assert str(err) == "slug_taken: This slug is already taken."
    assert counts() == before
    assert not get_user_model().objects.filter(email="someone-new@x.test").exists()


def test_create_with_a_taken_slug_in_other_case_is_refused():
    err = run_failing(*create_args("ACME"))

    assert err.returncode == 2
    assert "slug_taken" in str(err)
    assert get_tenant_model().objects.filter(slug="acme").count() == 1


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        ("www", "slug_reserved"),
        ("admin", "slug_reserved"),
        ("api", "slug_reserved"),
        ("Bad_Slug", "slug_invalid"),
        ("-abc", "slug_invalid"),
        ("abc-", "slug_invalid"),
        ("xn--abc", "slug_invalid"),
        ("ab", "slug_length"),
        ("a" * 41, "slug_length"),
    ],
)
def test_create_with_a_bad_slug_is_refused_with_its_code(slug, code):
    before = counts()
    schemas_before = _schema_names()

    err = run_failing(*create_args(slug, email="refused@x.test"))

    assert err.returncode == 2
    assert str(err).startswith(f"{code}: ")
    assert counts() == before
    assert _schema_names() == schemas_before
    assert not get_user_model().objects.filter(email="refused@x.test").exists()


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [("--timezone", "Mars/Olympus", "timezone"), ("--currency", "EURO", "currency")],
)
def test_create_with_an_invalid_setting_is_a_one_line_error_and_writes_nothing(
    option, value, field
):
    before = counts()
    schemas_before = _schema_names()

    err = run_failing(*create_args("badfield", option, value, email="refused@x.test"))

    assert err.returncode == 2
    assert str(err).startswith("invalid: ")
    assert f"{field}: " in str(err)
    assert "\n" not in str(err)
    assert counts() == before
    assert _schema_names() == schemas_before
    assert not get_tenant_model().objects.filter(slug="badfield").exists()
    assert not get_user_model().objects.filter(email="refused@x.test").exists()


def test_create_with_an_unknown_method_is_an_argument_error():
    with pytest.raises(CommandError) as err:
        call_command("tenants", *create_args("newco", "--method", "teleport"))
    assert "teleport" in str(err.value)
    assert not get_tenant_model().objects.filter(slug="newco").exists()


def _schema_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        return {row[0] for row in cursor.fetchall()}


# --- list -----------------------------------------------------------------------


def _pooled_row() -> Any:
    # A bare pooled row is enough for listing (no schema needed).
    return get_tenant_model().objects.create(schema_name="t_listpooled", status="pooled")


def test_list_json_shows_customers_only():
    _pooled_row()
    acme = get_tenant_model().objects.get(slug="acme")

    rows = json.loads(run("list", "--json"))

    assert [r["slug"] for r in rows] == ["acme", "globex"]
    assert rows[0] == {
        "id": str(acme.id),
        "slug": "acme",
        "name": "Acme",
        "status": "active",
        "schema_name": acme.schema_name,
        "domains": ["acme.localhost"],
        "created_at": acme.created_at.isoformat(),
    }
    schemas = {r["schema_name"] for r in rows}
    assert template_schema_name() not in schemas
    assert "t_listpooled" not in schemas


def test_list_json_all_includes_template_and_pool():
    _pooled_row()

    rows = json.loads(run("list", "--json", "--all"))

    by_schema = {r["schema_name"]: r for r in rows}
    assert by_schema[template_schema_name()]["status"] == "template"
    assert by_schema[template_schema_name()]["slug"] is None
    assert by_schema["t_listpooled"]["status"] == "pooled"
    assert by_schema["t_listpooled"]["domains"] == []
    assert {r["slug"] for r in rows} == {"acme", "globex", None}
    assert len(rows) == 4


def test_list_human_one_line_per_customer():
    _pooled_row()
    acme = get_tenant_model().objects.get(slug="acme")

    lines = run("list").splitlines()

    assert len(lines) == 2
    assert lines[0].split() == ["acme", "active", acme.schema_name, "acme.localhost", "Acme"]
    assert lines[1].split()[0] == "globex"
    assert all(template_schema_name() not in line for line in lines)
    assert all("t_listpooled" not in line for line in lines)


def test_list_human_all_shows_internal_rows_with_dashes():
    _pooled_row()

    lines = run("list", "--all").splitlines()

    assert len(lines) == 4
    pooled = next(line for line in lines if "t_listpooled" in line)
    assert pooled.split() == ["-", "pooled", "t_listpooled", "-"]
    template = next(line for line in lines if template_schema_name() in line)
    assert template.split() == ["-", "template", template_schema_name(), "-", "(template)"]


def test_list_without_customers_says_so():
    get_tenant_model().objects.customers().update(status="pooled")

    assert run("list") == "no organizations\n"
    assert json.loads(run("list", "--json")) == []


# --- suspend / resume -----------------------------------------------------------


def test_suspend_then_resume_changes_the_status():
    out = run("suspend", "acme")

    assert out == "acme suspended (read-only; was active)\n"
    assert get_tenant_model().objects.get(slug="acme").status == "suspended"
    assert get_tenant_model().objects.get(slug="globex").status == "active"

    out = run("resume", "ACME")

    assert out == "acme resumed: active\n"
    assert get_tenant_model().objects.get(slug="acme").status == "active"


def test_suspend_takes_effect_on_the_host_at_once(tenant_client):
    assert tenant_client.post("/api/v1/meta/").status_code == 405  # warm the host cache

    run("suspend", "acme")

    response = tenant_client.post("/api/v1/meta/")
    assert response.status_code == 402
    assert response.json()["code"] == "organization_inactive"


@pytest.mark.parametrize("action", ["suspend", "resume", "delete"])
def test_unknown_slug_is_refused(action):
    before = counts()

    err = run_failing(action, "nosuchorg")

    assert err.returncode == 2
    assert str(err) == "not_found: no organization with slug 'nosuchorg'"
    assert counts() == before


# --- delete ---------------------------------------------------------------------


def test_delete_without_yes_is_refused_and_keeps_everything():
    org = provision_tenant(slug="doomed", name="Doomed").tenant
    before = counts()

    err = run_failing("delete", "doomed")

    assert err.returncode == 2
    assert str(err) == "refusing to delete doomed without --yes (this drops its schema)"
    assert schema_exists(org.schema_name)
    assert counts() == before
    assert get_tenant_model().objects.filter(slug="doomed").exists()


def test_delete_with_yes_drops_row_domain_and_schema():
    run(*create_args("doomed"))
    org = get_tenant_model().objects.get(slug="doomed")
    schema = org.schema_name
    owner = get_user_model().objects.get(email="owner@newco.test")

    out = run("delete", "doomed", "--yes")

    assert out == "doomed deleted, schema dropped\n"
    assert not schema_exists(schema)
    assert not get_tenant_model().objects.filter(pk=org.pk).exists()
    assert not get_tenant_domain_model().objects.filter(domain="doomed.localhost").exists()
    assert not Membership.objects.filter(organization_id=org.pk).exists()
    # The user is platform-wide and survives the organization.
    assert get_user_model().objects.filter(pk=owner.pk).exists()
    # Other tenants are untouched.
    acme = get_tenant_model().objects.get(slug="acme")
    assert schema_exists(acme.schema_name)


# --- migrate --------------------------------------------------------------------


def _tenant_schema_count() -> int:
    return (
        get_tenant_model().objects.exclude(status="template").exclude(schema_name="public").count()
    )


def test_migrate_reports_every_schema_up_to_date():
    n = _tenant_schema_count()
    assert n >= 2

    out = run("migrate")

    lines = out.splitlines()
    assert lines[0] == f"{n} tenant schema(s): 0 need migrations, {n} up to date"
    assert lines[1].startswith("done in ")
    assert lines[1].endswith(" s: 0 migrated, 0 failed")
    assert len(lines) == 2


def test_migrate_runs_pending_schemas_and_reports_each(monkeypatch):
    acme = get_tenant_model().objects.get(slug="acme")
    monkeypatch.setattr(
        "tenants.management.commands.tenants.schemas_with_pending_migrations",
        lambda schemas: [acme.schema_name],
    )

    lines = run("migrate").splitlines()

    n = _tenant_schema_count()
    assert lines[0] == f"{n} tenant schema(s): 1 need migrations, {n - 1} up to date"
    assert lines[1].startswith(f"[1/1] {acme.schema_name} migrated in ")
    assert lines[2].endswith(" s: 1 migrated, 0 failed")
    assert connection.schema_name == "public"


def test_migrate_failure_exits_1_and_names_the_schema(monkeypatch):
    acme = get_tenant_model().objects.get(slug="acme")
    monkeypatch.setattr(
        "tenants.management.commands.tenants.schemas_with_pending_migrations",
        lambda schemas: [acme.schema_name],
    )

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("tenants.management.commands.tenants.call_command", broken)
    err_out = io.StringIO()

    with pytest.raises(CommandError) as err:
        call_command("tenants", "migrate", stdout=io.StringIO(), stderr=err_out)

    assert err.value.returncode == 1
    assert str(err.value).endswith(" s: 0 migrated, 1 failed")
    assert err_out.getvalue().startswith(f"[1/1] {acme.schema_name} FAILED after ")
    assert "RuntimeError: disk full" in err_out.getvalue()


# --- seed-demo ------------------------------------------------------------------


def _demo_state(org: Any) -> dict[str, Any]:
    from apps.projects.models import Client, Project

    users = {
        m.user.email: (m.role, m.user.first_name, m.user.last_name)
        for m in Membership.objects.filter(organization=org).select_related("user")
    }
    with tenant_context(org):
        clients = sorted(Client.objects.values_list("name", flat=True))
        projects = sorted(Project.objects.values_list("name", "code", "client__name", "billable"))
        activity = _demo_activity()
    return {"users": users, "clients": clients, "projects": projects, **activity}


def _demo_activity() -> dict[str, Any]:
    """What the demo's visitors click through (current schema)."""
    from apps.chat.models import Message
    from apps.projects.models import ProjectMember
    from apps.tasks.models import Task
    from apps.time_entries.models import TimeEntry
    from apps.timesheets.models import Timesheet

    return {
        "project_members": ProjectMember.objects.count(),
        "tasks": sorted(Task.objects.values_list("title", "status")),
        "entries": TimeEntry.all_objects.count(),
        "entry_users": TimeEntry.objects.values("user_id").distinct().count(),
        "timesheets": sorted(Timesheet.objects.values_list("user_id", "period_start", "status")),
        "messages": list(Message.objects.order_by("created_at").values_list("body", flat=True)),
    }


def test_seed_demo_fills_the_existing_acme_organization():
    acme = get_tenant_model().objects.get(slug="acme")
    orgs_before = get_tenant_model().objects.count()

    out = run("seed-demo")

    assert out == "demo organization acme ready\n"
    assert get_tenant_model().objects.count() == orgs_before  # acme reused, not re-created
    state = _demo_state(acme)
    assert state["users"] == {
        "owner@acme.test": ("owner", "Olivia", "Owner"),
        "manager@acme.test": ("manager", "Manuel", "Manager"),
        "member@acme.test": ("member", "Mia", "Member"),
        "admin@acme.test": ("admin", "Arjun", "Patel"),
        "lena@acme.test": ("member", "Lena", "Fischer"),
        "tomas@acme.test": ("member", "Tomás", "Silva"),
        "yuki@acme.test": ("member", "Yuki", "Tanaka"),
        "sam@acme.test": ("member", "Sam", "Okafor"),
    }
    assert state["clients"] == ["Globex Corporation", "Initech", "Umbrella Health"]
    assert state["projects"] == [
        ("Data migration", "MIG", "Initech", True),
        ("Internal", "INT", None, False),
        ("Mobile app", "APP", "Globex Corporation", True),
        ("Patient portal", "PAT", "Umbrella Health", True),
        ("Website redesign", "WEB", "Globex Corporation", True),
    ]
    owner = get_user_model().objects.get(email="owner@acme.test")
    assert owner.check_password("novatime-demo")
    # The demo data lives in acme's schema only.
    globex = get_tenant_model().objects.get(slug="globex")
    assert _demo_state(globex) == {
        "users": {},
        "clients": [],
        "projects": [],
        "project_members": 0,
        "tasks": [],
        "entries": 0,
        "entry_users": 0,
        "timesheets": [],
        "messages": [],
    }


def test_seed_demo_is_idempotent():
    acme = get_tenant_model().objects.get(slug="acme")
    run("seed-demo")
    first = _demo_state(acme)
    totals = counts()

    out = run("seed-demo")

    assert out == "demo organization acme ready\n"
    assert _demo_state(acme) == first
    assert counts() == totals


# --- pool-fill / snapshot -------------------------------------------------------


def test_pool_fill_builds_one_spare_schema():
    customers_before = list(get_tenant_model().objects.customers().values_list("pk", flat=True))

    out = run("pool-fill", "--size", "1")

    assert out == "1 spare schema(s) created\n"
    pooled = list(get_tenant_model().objects.filter(status="pooled"))
    assert len(pooled) == 1
    assert pooled[0].slug is None
    assert schema_exists(pooled[0].schema_name)
    assert list(get_tenant_model().objects.customers().values_list("pk", flat=True)) == (
        customers_before
    )
    # Idempotent: the pool is already full.
    assert run("pool-fill", "--size", "1") == "0 spare schema(s) created\n"
    assert get_tenant_model().objects.filter(status="pooled").count() == 1


def test_snapshot_replaces_the_template_snapshot():
    old = TemplateSnapshot.objects.get()

    out = run("snapshot")

    new = TemplateSnapshot.objects.get()
    assert new.pk != old.pk
    assert new.fingerprint == old.fingerprint
    assert out == f"snapshot {new} taken\n"


def test_snapshot_unavailable_exits_1(settings):
    settings.NOVATIME_PG_BIN_DIR = "/nonexistent"
    old = TemplateSnapshot.objects.get()

    err = run_failing("snapshot")

    assert err.returncode == 1
    assert str(err) == "snapshot unavailable (see log)"
    assert list(TemplateSnapshot.objects.values_list("pk", flat=True)) == [old.pk]


# --- the real CLI ---------------------------------------------------------------


@pytest.mark.slow
def test_real_cli_refuses_a_reserved_slug_with_a_one_line_error():
    env = manage_env()
    before = counts()

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "tenants",
            "create",
            "--slug",
            "www",
            "--name",
            "World Wide",
            "--owner-email",
            "www@x.test",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["CommandError: slug_reserved: This slug is reserved."]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert counts() == before
