"""``manage.py tenants …``: the tenant provisioning CLI for operators.

Sub-commands: create, list, suspend, resume, delete, migrate, seed-demo,
pool-fill, snapshot, export, import. Bad input exits non-zero with a one-line
message. ``delete`` exports the organization first (unless ``--no-export``)
and needs ``--yes`` or the slug typed at the prompt.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils.module_loading import import_string
from django_tenants.utils import get_public_schema_name, get_tenant_model

from tenants.db import tenant_connection
from tenants.lifecycle import export_tenant, import_tenant
from tenants.migration_state import schemas_with_pending_migrations, unapplied_migrations
from tenants.provisioning import (
    METHODS,
    STATUS_POOLED,
    STATUS_TEMPLATE,
    TenantError,
    delete_tenant,
    ensure_template,
    fill_pool,
    refresh_template_snapshot,
)

if TYPE_CHECKING:
    from apps.organizations.models import Organization

#: pg advisory lock key held by ``tenants migrate`` ("novatime" in ASCII).
MIGRATE_LOCK_ID = 0x6E6F766174696D65


def _schema_has_migrations_table(self: MigrationRecorder) -> bool:
    """``MigrationRecorder.has_table`` by name lookup in the schema being migrated.

    Django's version lists every visible table through the introspection query,
    which scans the whole of ``pg_class`` (``pg_table_is_visible`` and
    ``obj_description`` per row): 4 ms at 10 schemas, ~350 ms at 1,700, and it
    runs several times per migrated schema, making a release's migration run
    quadratic in the number of tenants (deploy/SCALING.md). ``to_regclass`` on
    the schema-qualified name is one index lookup."""
    # ``_has_table`` is Django's own per-recorder cache (set in __init__ since
    # 5.1), which the stubs do not declare.
    if self._has_table:  # type: ignore[attr-defined]
        return True
    schema = getattr(self.connection, "schema_name", None) or "public"
    with self.connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
            [schema, self.Migration._meta.db_table],
        )
        found = bool(cursor.fetchone()[0])
    self._has_table = found  # type: ignore[attr-defined]
    return found


def _migrate_schema(schema: str) -> tuple[str, float, str | None]:
    """Worker: migrate one schema (runs in a forked process when parallel)."""
    started = time.perf_counter()
    original_has_table = MigrationRecorder.has_table
    MigrationRecorder.has_table = _schema_has_migrations_table  # type: ignore[method-assign]
    try:
        call_command(
            "migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0
        )
        error = None
    except Exception as exc:  # reported per schema; the run goes on
        error = f"{exc.__class__.__name__}: {exc}"
    finally:
        MigrationRecorder.has_table = original_has_table  # type: ignore[method-assign]
        tenant_connection().set_schema_to_public()
    return schema, (time.perf_counter() - started) * 1000, error


class Command(BaseCommand):
    help = "Create, list, suspend, resume, delete and migrate tenants."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        create = sub.add_parser("create", help="Create an organization with its schema and owner.")
        create.add_argument("--slug", required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--owner-email", required=True)
        create.add_argument("--owner-password", default=None)
        create.add_argument("--timezone", default="UTC")
        create.add_argument("--currency", default="USD")
        create.add_argument("--method", choices=METHODS, default="auto")

        lst = sub.add_parser("list", help="List organizations.")
        lst.add_argument("--json", action="store_true", help="Machine-readable output.")
        lst.add_argument("--all", action="store_true", help="Include template and pool rows.")

        for action in ("suspend", "resume"):
            p = sub.add_parser(action, help=f"{action.capitalize()} an organization.")
            p.add_argument("slug")

        delete = sub.add_parser(
            "delete", help="Export, then delete an organization and drop its schema."
        )
        delete.add_argument("slug")
        delete.add_argument("--yes", action="store_true", help="Confirm without a prompt.")
        delete.add_argument(
            "--no-export", action="store_true", help="Do not export the data first."
        )
        delete.add_argument(
            "--out", default=None, help="Archive path (default var/exports/<slug>-<time>.zip)."
        )

        export = sub.add_parser("export", help="Export an organization's data to an archive.")
        export.add_argument("slug")
        export.add_argument("--out", required=True, help="Archive file to write (.zip).")

        imp = sub.add_parser("import", help="Create a new organization from an archive.")
        imp.add_argument("file")
        imp.add_argument("--slug", required=True, help="Slug of the new organization.")
        imp.add_argument("--name", default=None, help="Name (default: the archive's).")
        imp.add_argument("--owner-email", default=None, help="Owner of the new organization.")

        migrate = sub.add_parser(
            "migrate", help="Migrate public, the template and every tenant that needs it."
        )
        migrate.add_argument("--parallel", type=int, default=1)

        sub.add_parser("seed-demo", help="Create the demo organization with sample data.")
        pool = sub.add_parser("pool-fill", help="Build spare schemas for fast signups.")
        pool.add_argument("--size", type=int, default=None)
        sub.add_parser("snapshot", help="Re-take the template schema snapshot.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_connection().set_schema_to_public()
        action = options["action"].replace("-", "_")
        try:
            getattr(self, f"do_{action}")(**options)
        except TenantError as exc:
            raise CommandError(f"{exc.code}: {exc.message}", returncode=2) from exc

    # --- helpers ---------------------------------------------------------------

    def _tenant(self, slug: str) -> Organization:
        tenant = get_tenant_model().objects.filter(slug=slug.lower()).first()
        if tenant is None:
            raise CommandError(f"not_found: no organization with slug {slug!r}", returncode=2)
        return tenant

    @staticmethod
    def _hook(name: str) -> Any:
        return import_string(settings.NOVATIME_TENANT_HOOKS[name])

    # --- actions ----------------------------------------------------------------

    def do_create(self, **o: Any) -> None:
        started = time.perf_counter()
        provisioned = self._hook("create")(
            slug=o["slug"],
            name=o["name"],
            owner_email=o["owner_email"],
            owner_password=o["owner_password"],
            method=o["method"],
            timezone=o["timezone"],
            currency=o["currency"],
        )
        ms = (time.perf_counter() - started) * 1000
        self.stdout.write(
            self.style.SUCCESS(
                f"created {provisioned.tenant.slug} ({provisioned.domain}) "
                f"schema={provisioned.tenant.schema_name} via {provisioned.method} in {ms:.0f} ms"
            )
        )

    def do_list(self, **o: Any) -> None:
        qs = get_tenant_model().objects.prefetch_related("domains").order_by("created_at")
        if not o["all"]:
            qs = qs.exclude(status__in=[STATUS_TEMPLATE, STATUS_POOLED])
        rows = [
            {
                "id": str(t.id),
                "slug": t.slug,
                "name": t.name,
                "status": t.status,
                "schema_name": t.schema_name,
                "domains": [d.domain for d in t.domains.all()],
                "created_at": t.created_at.isoformat(),
            }
            for t in qs
        ]
        if o["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("no organizations")
            return
        for r in rows:
            self.stdout.write(
                f"{r['slug'] or '-':<24} {r['status']:<12} {r['schema_name']:<26} "
                f"{','.join(r['domains']) or '-':<32} {r['name']}"
            )

    def do_suspend(self, **o: Any) -> None:
        # The business rule (what may be suspended, what resuming restores)
        # is the organizations app's, shared with the admin's actions.
        tenant = self._hook("suspend")(organization_id=self._tenant(o["slug"]).pk)
        self.stdout.write(
            self.style.SUCCESS(
                f"{tenant.slug} suspended (read-only; was {tenant.status_before_suspension})"
            )
        )

    def do_resume(self, **o: Any) -> None:
        tenant = self._hook("resume")(organization_id=self._tenant(o["slug"]).pk)
        self.stdout.write(self.style.SUCCESS(f"{tenant.slug} resumed: {tenant.status}"))

    def do_delete(self, **o: Any) -> None:
        tenant = self._tenant(o["slug"])
        if not o["yes"]:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"refusing to delete {tenant.slug} without --yes (this drops its schema)",
                    returncode=2,
                )
            typed = input(f"This drops {tenant.slug}'s schema. Type the slug to confirm: ")
            if typed.strip().lower() != tenant.slug:
                raise CommandError("not confirmed: nothing deleted", returncode=2)
        if not o["no_export"]:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = Path(o["out"] or settings.VAR_DIR / "exports" / f"{tenant.slug}-{stamp}.zip")
            manifest = export_tenant(tenant, out)
            # On stderr: stdout keeps the one result line scripts parse.
            self.stderr.write(
                f"exported {manifest['totals']['rows']} rows of {tenant.slug} to {out}"
            )
        delete_tenant(tenant)
        self.stdout.write(self.style.SUCCESS(f"{tenant.slug} deleted, schema dropped"))

    def do_export(self, **o: Any) -> None:
        tenant = self._tenant(o["slug"])
        started = time.perf_counter()
        manifest = export_tenant(tenant, Path(o["out"]))
        self.stdout.write(
            self.style.SUCCESS(
                f"exported {tenant.slug}: {manifest['totals']['tables']} tables, "
                f"{manifest['totals']['rows']} rows to {o['out']} "
                f"in {time.perf_counter() - started:.1f} s"
            )
        )

    def do_import(self, **o: Any) -> None:
        if not Path(o["file"]).is_file():
            raise CommandError(f"not_found: no file {o['file']}", returncode=2)
        ensure_template()
        started = time.perf_counter()
        tenant, reports = import_tenant(
            o["file"],
            slug=o["slug"],
            name=o["name"],
            owner_email=o["owner_email"],
            create_hook=self._hook("create") if o["owner_email"] else None,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {tenant.slug} (schema {tenant.schema_name}): {len(reports)} tables, "
                f"{sum(r.rows for r in reports)} rows, every checksum matches, "
                f"in {time.perf_counter() - started:.1f} s"
            )
        )

    def do_migrate(self, **o: Any) -> None:
        # One runner at a time (several pods may start a release together): the
        # others wait here, then find nothing left to do. The lock lives on a
        # connection of its own, because --parallel closes Django's before forking.
        lock = connection.get_new_connection(connection.get_connection_params())
        lock.autocommit = True
        try:
            if not lock.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK_ID]).fetchone()[0]:
                self.stdout.write("another `tenants migrate` is running: waiting for it…")
                lock.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_ID])
            self._migrate_all(o["parallel"])
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_ID])
            lock.close()

    def _migrate_all(self, parallel: int) -> None:
        started = time.perf_counter()
        if unapplied_migrations(get_public_schema_name()):
            self.stdout.write("migrating public schema…")
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        ensure_template()
        schemas = list(
            get_tenant_model()
            .objects.exclude(status=STATUS_TEMPLATE)
            .exclude(schema_name=get_public_schema_name())
            .order_by("created_at")
            .values_list("schema_name", flat=True)
        )
        pending = schemas_with_pending_migrations(schemas)
        self.stdout.write(
            f"{len(schemas)} tenant schema(s): {len(pending)} need migrations, "
            f"{len(schemas) - len(pending)} up to date"
        )
        failures = self._migrate_schemas(pending, max(1, parallel))
        elapsed = time.perf_counter() - started
        summary = f"done in {elapsed:.2f} s: {len(pending) - failures} migrated, {failures} failed"
        if failures:
            raise CommandError(summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))

    def _migrate_schemas(self, pending: list[str], parallel: int) -> int:
        failures = 0
        total = len(pending)
        if not total:
            return 0
        results: Iterator[tuple[str, float, str | None]]
        if parallel == 1:
            results = map(_migrate_schema, pending)
            pool = None
        else:
            connections.close_all()  # never share a socket with forked children
            pool = multiprocessing.get_context("fork").Pool(processes=parallel)
            results = pool.imap_unordered(_migrate_schema, pending)
        try:
            for index, (schema, ms, error) in enumerate(results, start=1):
                if error:
                    failures += 1
                    self.stderr.write(
                        f"[{index}/{total}] {schema} FAILED after {ms:.0f} ms: {error}"
                    )
                else:
                    self.stdout.write(f"[{index}/{total}] {schema} migrated in {ms:.0f} ms")
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        return failures

    def do_seed_demo(self, **o: Any) -> None:
        ensure_template()
        info = self._hook("seed_demo")()
        self.stdout.write(self.style.SUCCESS(f"demo organization {info['slug']} ready"))

    def do_pool_fill(self, **o: Any) -> None:
        ensure_template()
        created = fill_pool(size=o["size"])
        self.stdout.write(self.style.SUCCESS(f"{created} spare schema(s) created"))

    def do_snapshot(self, **o: Any) -> None:
        ensure_template()
        snapshot = refresh_template_snapshot()
        if snapshot is None:
            raise CommandError("snapshot unavailable (see log)", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"snapshot {snapshot} taken"))
