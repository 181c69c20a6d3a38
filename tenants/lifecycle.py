"""Tenant data lifecycle: export an organization's schema to a portable
archive, import an archive into a new organization, both verified.

Archive (a zip file):

* ``manifest.json`` — format and version, source organization (slug, name,
  settings), the schema's applied migrations of every tenant app, and per
  table: model label, row count, the SHA-256 of its data file and a
  **content checksum** computed by PostgreSQL (md5 over the rows' text
  representation, in primary-key order);
* ``data/<app_label>.<model>.jsonl`` — one JSON object per row, exactly as
  PostgreSQL's ``row_to_json`` writes it (numeric as written, timestamps with
  microseconds and offset, arrays, ranges, JSON), so nothing is rounded or
  re-typed in Python on either side.

What is exported is found through the app registry: every concrete model —
including automatic many-to-many tables — of every app in ``TENANT_APPS``, so
a new tenant app is included without touching this file. Tables in the schema
that no model describes are listed in the manifest (``unmanaged_tables``).
Public-schema rows (users, memberships, billing) are not part of the archive:
users are shared between organizations, and the importing operator names the
new owner.

Export runs in one REPEATABLE READ, READ ONLY transaction: one consistent
snapshot of every table while the organization keeps working.

Import provisions the new organization and loads every table with
``INSERT … SELECT … FROM json_populate_recordset(NULL::table, …)`` in **one
transaction** with deferred constraints, resets sequences, then recomputes the
content checksum of every table and compares it with the manifest. Any
difference — or an archive whose migration state differs from the running
code's, or whose files do not match their SHA-256 — and nothing is created.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Field, Model
from django_tenants.utils import get_tenant_model, quote_schema_name

from .db import tenant_connection
from .provisioning import Provisioned, TenantError, provision_tenant

if TYPE_CHECKING:
    from apps.organizations.models import Organization

logger = logging.getLogger(__name__)

FORMAT = "novatime-tenant-export"
VERSION = 1
BATCH_ROWS = 2000
#: Tenant row fields that belong to the new organization, not the archive.
_TENANT_OWN_FIELDS = {
    "id",
    "schema_name",
    "slug",
    "name",
    "status",
    "created_at",
    "updated_at",
    "deleted_at",
}


@dataclass(frozen=True)
class TableReport:
    label: str
    table: str
    rows: int
    checksum: str


# --- registry ------------------------------------------------------------------


def tenant_models() -> list[type[Model]]:
    """Every concrete model stored in a tenant schema (auto M2M tables too),
    in a stable order."""
    labels = {app.split(".")[-1] for app in settings.TENANT_APPS}
    tenant_app_configs = [
        c for c in apps.get_app_configs() if c.name in settings.TENANT_APPS or c.label in labels
    ]
    seen: dict[str, type[Model]] = {}
    for config in tenant_app_configs:
        for model in config.get_models(include_auto_created=True):
            meta = model._meta
            if meta.proxy or not meta.managed or meta.swapped:
                continue
            seen.setdefault(meta.db_table, model)
    return [seen[t] for t in sorted(seen)]


def _tenant_app_labels() -> set[str]:
    return {m._meta.app_label for m in tenant_models()}


def _qualified(schema: str, table: str) -> str:
    return f"{quote_schema_name(schema)}.{connection.ops.quote_name(table)}"


def _column(field: Field[Any, Any]) -> str:
    """The quoted column of a concrete field (the stubs allow ``None`` for
    fields without one, which ``concrete_fields`` and a pk never are)."""
    if field.column is None:
        raise TypeError(f"{field!r} has no database column")
    return connection.ops.quote_name(field.column)


def _pk_column(model: type[Model]) -> str:
    return _column(model._meta.pk)


def _insertable_columns(schema: str, table: str) -> list[str]:
    """Columns a row can be inserted into (generated columns are recomputed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position",
            [schema, table],
        )
        return [row[0] for row in cursor.fetchall()]


def table_checksum(schema: str, model: type[Model]) -> tuple[int, str]:
    """(rows, md5 of every row's text in primary-key order), computed by PostgreSQL.

    A row's text is PostgreSQL's own rendering of every column, so two tables
    with the same checksum hold the same values, to the last digit."""
    table = _qualified(schema, model._meta.db_table)
    rows_text = f"string_agg(t::text, E'\\n' ORDER BY t.{_pk_column(model)})"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), md5(coalesce({rows_text}, '')) FROM {table} AS t")
        count, digest = cursor.fetchone()
    return count, digest


def applied_migrations(schema: str) -> dict[str, list[str]]:
    labels = _tenant_app_labels()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT app, name FROM {_qualified(schema, 'django_migrations')} ORDER BY app, name"
        )
        rows = cursor.fetchall()
    out: dict[str, list[str]] = {}
    for app, name in rows:
        if app in labels:
            out.setdefault(app, []).append(name)
    return out


def _unmanaged_tables(schema: str) -> list[str]:
    known = {m._meta.db_table for m in tenant_models()} | {"django_migrations"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
        return sorted(t for (t,) in cursor.fetchall() if t not in known)


def _tenant_settings(tenant: Organization) -> dict[str, Any]:
    out = {}
    for field in tenant._meta.concrete_fields:
        if field.name in _TENANT_OWN_FIELDS or field.is_relation or not field.editable:
            continue
        out[field.name] = field.value_from_object(tenant)
    return json.loads(json.dumps(out, cls=DjangoJSONEncoder))


# --- export -------------------------------------------------------------------


def export_tenant(tenant: Organization, out: Path | str) -> dict[str, Any]:
    """Write ``tenant``'s archive to ``out``; returns the manifest."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    schema = tenant.schema_name
    tenant_connection().set_schema_to_public()
    tmp = out.with_name(out.name + ".partial")
    outermost = not connection.in_atomic_block
    if outermost:
        # Let django-tenants send its SET search_path now, in autocommit, so that
        # SET TRANSACTION below is the transaction's first statement.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    with transaction.atomic():
        if outermost:
            # One snapshot of every table. (Inside an enclosing transaction, a
            # test's for instance, that transaction's snapshot rules.)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        tables = []
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for model in tenant_models():
                tables.append(_export_table(archive, schema, model))
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": VERSION,
                "exported_at": datetime.now(UTC).isoformat(),
                "source": {
                    "id": str(tenant.pk),
                    "slug": tenant.slug,
                    "name": tenant.name,
                    "schema_name": schema,
                    "settings": _tenant_settings(tenant),
                },
                "migrations": applied_migrations(schema),
                "unmanaged_tables": _unmanaged_tables(schema),
                "tables": tables,
                "totals": {"tables": len(tables), "rows": sum(t["rows"] for t in tables)},
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(out)
    logger.info(
        "tenant %s exported: %d tables, %d rows → %s",
        tenant.slug,
        len(tables),
        manifest["totals"]["rows"],
        out,
    )
    return manifest


def _export_table(archive: zipfile.ZipFile, schema: str, model: type[Model]) -> dict[str, Any]:
    meta = model._meta
    name = f"data/{meta.app_label}.{meta.model_name}.jsonl"
    digest = hashlib.sha256()
    rows = 0
    with archive.open(name, "w") as handle:
        raw = connection.connection  # psycopg: a named (server-side) cursor streams
        with raw.cursor(name=f"export_{meta.db_table}"[:60]) as cur:
            cur.itersize = BATCH_ROWS
            cur.execute(
                f"SELECT row_to_json(t)::text FROM {_qualified(schema, meta.db_table)} AS t "
                f"ORDER BY t.{_pk_column(model)}"
            )
            for (line,) in cur:
                data = line.encode() + b"\n"
                handle.write(data)
                digest.update(data)
                rows += 1
    count, checksum = table_checksum(schema, model)
    assert count == rows, (meta.label, count, rows)  # same snapshot: cannot differ
    return {
        "model": meta.label_lower,
        "table": meta.db_table,
        "file": name,
        "rows": rows,
        "sha256": digest.hexdigest(),
        "checksum": checksum,
    }


# --- import -------------------------------------------------------------------


def read_manifest(path: Path | str) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise TenantError(f"Not a NovaTime tenant archive: {exc}", code="invalid_archive") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise TenantError(
            f"Unsupported archive format {manifest.get('format')!r} v{manifest.get('version')}.",
            code="invalid_archive",
        )
    return manifest


def verify_archive(path: Path | str) -> dict[str, Any]:
    """Manifest, after checking every data file against its SHA-256 and row count."""
    manifest = read_manifest(path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for table in manifest["tables"]:
            if table["file"] not in names:
                raise TenantError(f"{table['file']} is missing.", code="invalid_archive")
            digest = hashlib.sha256()
            rows = 0
            with archive.open(table["file"]) as handle:
                for line in handle:
                    digest.update(line)
                    rows += 1
            if digest.hexdigest() != table["sha256"] or rows != table["rows"]:
                raise TenantError(
                    f"{table['file']} does not match its checksum: the archive is damaged.",
                    code="checksum_mismatch",
                )
    return manifest


def _check_compatible(manifest: dict[str, Any], target_schema: str) -> None:
    here = applied_migrations(target_schema)
    there = manifest["migrations"]
    if here != there:
        missing = sorted(
            f"{app}.{name}"
            for app, names in there.items()
            for name in names
            if name not in here.get(app, [])
        )
        extra = sorted(
            f"{app}.{name}"
            for app, names in here.items()
            for name in names
            if name not in there.get(app, [])
        )
        raise TenantError(
            "The archive was made at another migration state than this release "
            f"(unknown here: {missing[:5] or 'none'}; not in the archive: {extra[:5] or 'none'}). "
            "Import it with the release that exported it, then migrate.",
            code="migration_mismatch",
        )
    models = {m._meta.label_lower for m in tenant_models()}
    unknown = sorted({t["model"] for t in manifest["tables"]} - models)
    if unknown:
        raise TenantError(f"Unknown models in the archive: {unknown}.", code="migration_mismatch")


def import_tenant(
    path: Path | str,
    *,
    slug: str,
    name: str | None = None,
    owner_email: str | None = None,
    create_hook: Callable[..., Provisioned] | None = None,
) -> tuple[Organization, list[TableReport]]:
    """Create organization ``slug`` from an archive, all or nothing.

    ``create_hook`` (the CLI passes ``NOVATIME_TENANT_HOOKS["create"]``) creates
    the organization with an owner membership; without it the organization is
    provisioned without members."""
    manifest = verify_archive(path)
    source = manifest["source"]
    tenant_model = get_tenant_model()
    fields = {}
    for key, value in source.get("settings", {}).items():
        try:
            field = tenant_model._meta.get_field(key)
        except Exception:  # a setting this release no longer has: dropped, logged
            logger.warning("import: ignoring unknown organization setting %r", key)
            continue
        fields[key] = field.to_python(value)
    by_model = {m._meta.label_lower: m for m in tenant_models()}
    with transaction.atomic():
        if create_hook is not None and owner_email:
            provisioned = create_hook(
                slug=slug,
                name=name or source["name"],
                owner_email=owner_email,
                owner_password=None,
                **fields,
            )
        else:
            provisioned = provision_tenant(slug=slug, name=name or source["name"], **fields)
        tenant = provisioned.tenant
        schema = tenant.schema_name
        _check_compatible(manifest, schema)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        reports = []
        with zipfile.ZipFile(path) as archive:
            for table in manifest["tables"]:
                model = by_model[table["model"]]
                _load_table(archive, schema, model, table["file"])
        for table in manifest["tables"]:
            model = by_model[table["model"]]
            _reset_sequences(schema, model)
            rows, checksum = table_checksum(schema, model)
            if (rows, checksum) != (table["rows"], table["checksum"]):
                raise TenantError(
                    f"{table['model']}: imported {rows} rows with checksum {checksum}, "
                    f"the archive has {table['rows']} rows with {table['checksum']}.",
                    code="checksum_mismatch",
                )
            reports.append(TableReport(table["model"], table["table"], rows, checksum))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fail here, not at commit
    logger.info(
        "tenant %s imported from %s (%s): %d rows",
        slug,
        path,
        source["slug"],
        sum(r.rows for r in reports),
    )
    return tenant, reports


def _load_table(archive: zipfile.ZipFile, schema: str, model: type[Model], name: str) -> None:
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(c) for c in _insertable_columns(schema, table))
    qualified = _qualified(schema, table)
    sql = (
        f"INSERT INTO {qualified} ({columns}) SELECT {columns} "
        f"FROM json_populate_recordset(NULL::{qualified}, %s::json)"
    )
    batch: list[bytes] = []
    with archive.open(name) as handle, connection.cursor() as cursor:
        for line in handle:
            line = line.rstrip(b"\n")
            if line:
                batch.append(line)
            if len(batch) >= BATCH_ROWS:
                cursor.execute(sql, [_json_array(batch)])
                batch = []
        if batch:
            cursor.execute(sql, [_json_array(batch)])


def _json_array(lines: list[bytes]) -> str:
    """The rows as one JSON array, joined as text: values are never re-parsed
    (and so never re-typed) in Python."""
    return "[" + ",".join(line.decode() for line in lines) + "]"


def _reset_sequences(schema: str, model: type[Model]) -> None:
    """Serial/identity columns continue after the imported ids."""
    table = _qualified(schema, model._meta.db_table)
    with connection.cursor() as cursor:
        for field in model._meta.concrete_fields:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, field.column])
            (sequence,) = cursor.fetchone()
            if sequence:
                column = _column(field)
                cursor.execute(
                    f"SELECT setval(%s, coalesce(max({column}), 0) + 1, false) FROM {table}",
                    [sequence],
                )
