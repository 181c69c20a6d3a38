"""Tenant export/import: a lossless round trip (counts and PostgreSQL content
checksums match table by table), archives that are damaged or from another
migration state are refused with nothing created, and ``tenants delete``
exports first and asks for confirmation."""

from __future__ import annotations

import datetime
import json
import uuid
import zipfile
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import get_tenant_model, tenant_context

from apps.chat.tests.factories import MessageFactory
from apps.organizations.models import Membership
from apps.projects.models import Project
from apps.projects.tests.factories import ClientFactory, ProjectFactory
from apps.tasks.models import Task
from apps.tasks.tests.factories import LabelFactory, TaskCommentFactory, TaskFactory
from apps.time_entries.models import TimeEntry
from apps.time_entries.tests.factories import TimeEntryFactory
from tenants.lifecycle import (
    export_tenant,
    import_tenant,
    table_checksum,
    tenant_models,
    verify_archive,
)
from tenants.provisioning import TenantError

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(tenant):
    """acme with rows in every kind of column: decimals, timestamps with
    microseconds, nulls, unicode, M2M links, soft-deleted rows."""
    user_id = uuid.uuid4()
    with tenant_context(tenant):
        client = ClientFactory(name="Ünïcødé Client ✓", notes='line1\nline2\t"quoted"')
        project = ProjectFactory(
            client=client, budget_amount=Decimal("12345678.91"), hourly_rate=Decimal("0.01")
        )
        ProjectFactory(
            deleted_at=datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
        )
        labels = [LabelFactory(), LabelFactory()]
        task = TaskFactory(project=project, labels=labels, assignees=[user_id])
        TaskCommentFactory(task=task)
        TimeEntryFactory(project=project, user_id=user_id)
        TimeEntryFactory(project=project, user_id=user_id, running=True)
        MessageFactory(author_id=user_id)
    return tenant


def _checksums(tenant) -> dict[str, tuple[int, str]]:
    return {m._meta.label_lower: table_checksum(tenant.schema_name, m) for m in tenant_models()}


def test_every_tenant_app_model_is_exported_including_m2m_tables():
    labels = {m._meta.label_lower for m in tenant_models()}
    assert {"projects.project", "tasks.task", "time_entries.timeentry", "chat.message"} <= labels
    assert "tasks.task_labels" in labels  # an automatic many-to-many table
    assert not any(label.startswith(("organizations.", "iam.", "billing.")) for label in labels)


def test_round_trip_is_lossless(populated, tmp_path):
    archive = tmp_path / "acme.zip"
    manifest = export_tenant(populated, archive)
    assert manifest["totals"]["rows"] >= 10
    assert manifest["unmanaged_tables"] == []
    source_sums = _checksums(populated)
    assert {t["model"]: (t["rows"], t["checksum"]) for t in manifest["tables"]} == source_sums

    copy, reports = import_tenant(archive, slug="acme-copy")
    assert copy.schema_name != populated.schema_name
    assert _checksums(copy) == source_sums  # every table, every value
    assert {r.label: (r.rows, r.checksum) for r in reports} == source_sums
    with tenant_context(copy):
        project = Project.objects.get(budget_amount=Decimal("12345678.91"))
        assert project.client.notes == 'line1\nline2\t"quoted"'
        assert Project.all_objects.filter(deleted_at__isnull=False).count() == 1
        assert Task.objects.get().labels.count() == 2
        assert TimeEntry.objects.filter(ended_at__isnull=True).count() == 1
        # Sequences continue after the imported ids: new rows insert fine.
        TaskFactory(project=project, labels=[LabelFactory()])
    # The source is untouched.
    assert _checksums(populated) == source_sums


def test_import_copies_settings_and_can_name_an_owner(populated, tmp_path):
    from apps.iam.tests.factories import UserFactory
    from apps.organizations.services import organization_create

    populated.timezone = "Europe/Paris"
    populated.save(update_fields=["timezone"])
    owner = UserFactory()
    archive = tmp_path / "acme.zip"
    export_tenant(populated, archive)
    copy, _ = import_tenant(
        archive,
        slug="acme-owned",
        name="Acme Copy",
        owner_email=owner.email,
        create_hook=organization_create,
    )
    assert copy.name == "Acme Copy" and copy.timezone == "Europe/Paris"
    assert Membership.objects.get(organization=copy).user == owner


def test_a_damaged_archive_is_refused_and_nothing_is_created(populated, tmp_path):
    archive = tmp_path / "acme.zip"
    manifest = export_tenant(populated, archive)
    damaged = tmp_path / "damaged.zip"
    target = next(t for t in manifest["tables"] if t["model"] == "projects.project")
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == target["file"]:
                data = data.replace(b"12345678.91", b"12345678.92")
            dst.writestr(item, data)
    with pytest.raises(TenantError) as exc:
        import_tenant(damaged, slug="acme-bad")
    assert exc.value.code == "checksum_mismatch"
    assert not get_tenant_model().objects.filter(slug="acme-bad").exists()


def test_content_is_verified_after_loading(populated, tmp_path, monkeypatch):
    """Even with an intact file, a load that changes a value is caught by the
    PostgreSQL-side checksum, and the whole import rolls back."""
    archive = tmp_path / "acme.zip"
    export_tenant(populated, archive)
    from tenants import lifecycle

    original = lifecycle._json_array

    def lossy(lines):
        return original(lines).replace("12345678.91", "12345678.9")

    monkeypatch.setattr(lifecycle, "_json_array", lossy)
    schemas_before = _schema_count()
    with pytest.raises(TenantError) as exc:
        import_tenant(archive, slug="acme-lossy")
    assert exc.value.code == "checksum_mismatch" and "projects.project" in exc.value.message
    assert not get_tenant_model().objects.filter(slug="acme-lossy").exists()
    assert _schema_count() == schemas_before


def test_an_archive_from_another_migration_state_is_refused(populated, tmp_path):
    archive = tmp_path / "acme.zip"
    export_tenant(populated, archive)
    altered = tmp_path / "future.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(altered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["migrations"]["projects"].append("9999_from_the_future")
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    with pytest.raises(TenantError) as exc:
        import_tenant(altered, slug="acme-future")
    assert exc.value.code == "migration_mismatch"
    assert "projects.9999_from_the_future" in exc.value.message
    assert not get_tenant_model().objects.filter(slug="acme-future").exists()


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "bogus.zip"
    bogus.write_text("hello")
    with pytest.raises(TenantError) as exc:
        verify_archive(bogus)
    assert exc.value.code == "invalid_archive"


def test_import_into_a_taken_slug_is_refused(populated, tmp_path, other_tenant):
    archive = tmp_path / "acme.zip"
    export_tenant(populated, archive)
    with pytest.raises(TenantError) as exc:
        import_tenant(archive, slug=other_tenant.slug)
    assert exc.value.code == "slug_taken"
    with tenant_context(other_tenant):
        assert Project.objects.count() == 0  # nothing leaked into globex


def test_export_reads_only_its_own_tenant(populated, other_tenant, tmp_path):
    with tenant_context(other_tenant):
        ProjectFactory(name="Globex secret")
    archive = tmp_path / "acme.zip"
    export_tenant(populated, archive)
    with zipfile.ZipFile(archive) as z:
        blob = b"".join(z.read(n) for n in z.namelist())
    assert b"Globex secret" not in blob
    assert b"\xc3\x9cn\xc3\xafc\xc3\xb8d\xc3\xa9 Client" in blob


# --- CLI ------------------------------------------------------------------------


def _call(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("tenants", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_cli_export_and_import(populated, tmp_path):
    archive = tmp_path / "cli.zip"
    assert "exported acme" in _call("export", "acme", "--out", str(archive))
    out = _call("import", str(archive), "--slug", "acme-cli")
    assert "every checksum matches" in out
    copy = get_tenant_model().objects.get(slug="acme-cli")
    assert _checksums(copy) == _checksums(populated)


def test_cli_import_errors_are_one_line(tmp_path):
    with pytest.raises(CommandError, match="not_found"):
        _call("import", str(tmp_path / "missing.zip"), "--slug", "x-missing")
    bogus = tmp_path / "bogus.zip"
    bogus.write_text("nope")
    with pytest.raises(CommandError, match="invalid_archive"):
        _call("import", str(bogus), "--slug", "x-bogus")


def test_cli_delete_exports_first_and_needs_confirmation(populated, tmp_path, monkeypatch):
    archive = tmp_path / "seed.zip"
    export_tenant(populated, archive)
    victim, _ = import_tenant(archive, slug="acme-victim")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(CommandError, match="without --yes"):
        _call("delete", "acme-victim")
    assert get_tenant_model().objects.filter(slug="acme-victim").exists()

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "wrong")
    with pytest.raises(CommandError, match="not confirmed"):
        _call("delete", "acme-victim")
    assert get_tenant_model().objects.filter(slug="acme-victim").exists()

    monkeypatch.setattr("builtins.input", lambda prompt: "acme-victim")
    final = tmp_path / "final.zip"
    out = _call("delete", "acme-victim", "--out", str(final))
    assert "deleted" in out and f"to {final}" in out and final.exists()
    assert verify_archive(final)["source"]["slug"] == "acme-victim"
    assert not get_tenant_model().objects.filter(slug="acme-victim").exists()
    assert victim.schema_name not in _schema_names()


def test_cli_delete_no_export(populated, tmp_path, settings):
    archive = tmp_path / "seed.zip"
    export_tenant(populated, archive)
    import_tenant(archive, slug="acme-gone")
    settings.VAR_DIR = tmp_path / "var"
    _call("delete", "acme-gone", "--yes", "--no-export")
    assert not (tmp_path / "var" / "exports").exists()
    assert not get_tenant_model().objects.filter(slug="acme-gone").exists()


def _schema_names() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        return {r[0] for r in cursor.fetchall()}


def _schema_count() -> int:
    return len(_schema_names())


def test_archive_paths_are_portable(populated, tmp_path):
    archive = tmp_path / "acme.zip"
    manifest = export_tenant(populated, archive)
    for table in manifest["tables"]:
        assert Path(table["file"]).parts[0] == "data" and table["file"].endswith(".jsonl")
