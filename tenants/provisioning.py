"""Creating, pooling and deleting tenant schemas.

Three ways to get a fully migrated schema, fastest first (tenants/README.md,
figures in docs/BENCHMARKS.md):

1. **pool** - claim a pre-built spare schema (a tenant row with status
   ``pooled``) with ``SELECT … FOR UPDATE SKIP LOCKED``;
2. **template** - replay the template schema's DDL snapshot (``pg_dump`` of the
   template with the schema name replaced) in the current transaction;
3. **migrate** - ``CREATE SCHEMA`` + ``migrate_schemas`` for that schema
   (django-tenants' default path; slow, used when no valid snapshot exists).

Everything a provisioning call writes (row, schema, domain) happens in one
transaction: PostgreSQL DDL is transactional, so a failure at any step leaves
no schema, domain or row behind.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import (
    get_tenant_domain_model,
    get_tenant_model,
    quote_schema_name,
    schema_exists,
)

from .db import tenant_connection
from .migration_state import fingerprint, schemas_with_pending_migrations
from .models import TemplateSnapshot
from .resolution import invalidate_tenant
from .slugs import validate_slug

if TYPE_CHECKING:
    from apps.organizations.models import Organization

logger = logging.getLogger(__name__)

PLACEHOLDER = "__novatime_schema__"
STATUS_TEMPLATE = "template"
STATUS_POOLED = "pooled"
METHODS = ("auto", "pool", "template", "migrate")


class TenantError(Exception):
    """Provisioning refused: ``code`` is machine-readable (``slug_taken`` …)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Provisioned:
    tenant: Organization
    domain: str
    method: str  # "pool", "template" or "migrate"


def template_schema_name() -> str:
    return settings.NOVATIME_TEMPLATE_SCHEMA


def new_schema_name() -> str:
    """Opaque schema name, never derived from the slug (slugs can change)."""
    return f"t_{uuid.uuid4().hex[:20]}"


def tenant_host(slug: str) -> str:
    return f"{slug}.{settings.NOVATIME_BASE_DOMAIN}"


# --- building schemas ----------------------------------------------------------


def build_schema_by_migrations(schema_name: str) -> None:
    """django-tenants' path: create the schema and run every tenant migration."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_schema_name(schema_name)}")
    call_command(
        "migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0
    )
    tenant_connection().set_schema_to_public()


_snapshot_cache: dict[str, str] = {}


def current_snapshot_sql() -> str | None:
    """SQL of a snapshot taken at the code's migration state, or ``None``."""
    fp = fingerprint()
    if fp in _snapshot_cache:
        return _snapshot_cache[fp]
    sql = (
        TemplateSnapshot.objects.filter(fingerprint=fp, template_schema=template_schema_name())
        .order_by("-created_at")
        .values_list("sql", flat=True)
        .first()
    )
    if sql is not None:
        _snapshot_cache.clear()
        _snapshot_cache[fp] = sql
    return sql


def build_schema_from_snapshot(schema_name: str, sql: str) -> None:
    """Replay the template DDL under a new schema name (one round trip)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.replace(PLACEHOLDER, quote_schema_name(schema_name)))
    # The replay only uses qualified names, but never trust a cached search_path
    # after running foreign SQL on this session.
    tenant_connection().search_path_set_schemas = None


def _pg_dump_binary() -> str | None:
    bin_dir = settings.NOVATIME_PG_BIN_DIR
    if bin_dir:
        candidate = os.path.join(bin_dir, "pg_dump")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("pg_dump")


_SKIP_LINE = re.compile(r"^(SET |SELECT pg_catalog\.set_config|\\|--)")


def dump_schema_sql(schema_name: str) -> tuple[str, str]:
    """``pg_dump`` of ``schema_name`` (DDL + its few bookkeeping rows), rewritten
    so that the schema name is a placeholder. Returns (sql, pg_dump version)."""
    binary = _pg_dump_binary()
    if binary is None:
        raise TenantError("pg_dump was not found", code="pg_dump_missing")
    db = connection.settings_dict
    env = {**os.environ, "PGDATABASE": db["NAME"]}
    for key, var in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if db.get(key):
            env[var] = str(db[key])
    args = [
        binary,
        "--schema",
        schema_name,
        "--no-owner",
        "--no-privileges",
        "--rows-per-insert=1000",  # one INSERT per table: fewer round trips
        "--no-tablespaces",
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
    ]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise TenantError(f"pg_dump failed: {result.stderr.strip()}", code="pg_dump_failed")
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    name = re.compile(rf'(?<![\w$"]){re.escape(schema_name)}(?![\w$])|"{re.escape(schema_name)}"')
    lines = [
        name.sub(PLACEHOLDER, line)
        for line in result.stdout.splitlines()
        if line.strip() and not _SKIP_LINE.match(line)
    ]
    return "\n".join(lines) + "\n", version


def refresh_template_snapshot() -> TemplateSnapshot | None:
    """Take a new snapshot of the template, if it is at the code's migration state.

    Returns ``None`` (and logs why) when it cannot: provisioning then uses the
    migrate path, which is slower but always correct.
    """
    schema = template_schema_name()
    if not schema_exists(schema) or schemas_with_pending_migrations([schema]):
        logger.warning("template schema %s is missing or not migrated: no snapshot", schema)
        return None
    try:
        sql, version = dump_schema_sql(schema)
    except (TenantError, OSError, subprocess.SubprocessError) as exc:
        logger.warning("template snapshot unavailable (%s): provisioning will migrate", exc)
        return None
    snapshot = TemplateSnapshot.objects.create(
        fingerprint=fingerprint(), template_schema=schema, sql=sql, pg_dump_version=version
    )
    TemplateSnapshot.objects.filter(template_schema=schema).exclude(pk=snapshot.pk).delete()
    _snapshot_cache.clear()
    logger.info("template snapshot %s taken (%d bytes of SQL)", snapshot, len(sql))
    return snapshot


def ensure_template() -> Organization:
    """Create the template tenant if missing, migrate it, and snapshot it.

    The template is a real tenant row (status ``template``) so that every
    ``migrate_schemas`` keeps it at the latest migration.
    """
    tenant_model = get_tenant_model()
    schema = template_schema_name()
    template, _ = tenant_model.objects.get_or_create(
        schema_name=schema, defaults={"status": STATUS_TEMPLATE, "name": "(template)"}
    )
    if not schema_exists(schema):
        build_schema_by_migrations(schema)
    elif schemas_with_pending_migrations([schema]):
        call_command(
            "migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0
        )
        tenant_connection().set_schema_to_public()
    if current_snapshot_sql() is None:
        refresh_template_snapshot()
    return template


def build_schema(schema_name: str, *, method: str = "template") -> str:
    """Build a fully migrated schema; returns the method actually used."""
    if method == "template":
        sql = current_snapshot_sql()
        if sql is not None:
            build_schema_from_snapshot(schema_name, sql)
            return "template"
        logger.warning("no valid template snapshot: building %s by migrations", schema_name)
    build_schema_by_migrations(schema_name)
    return "migrate"


# --- pool ------------------------------------------------------------------------


def _claim_pooled() -> Organization | None:
    """Lock one up-to-date pooled tenant for this transaction, or ``None``."""
    candidates = (
        get_tenant_model()
        .objects.select_for_update(skip_locked=True)
        .filter(status=STATUS_POOLED)
        .order_by("created_at")[:1]
    )
    for tenant in candidates:
        if schemas_with_pending_migrations([tenant.schema_name]):
            logger.warning("pooled schema %s is behind: not claimed", tenant.schema_name)
            return None
        return tenant
    return None


def fill_pool(*, size: int | None = None) -> int:
    """Top the pool of spare schemas up to ``size`` (default from settings).

    Each spare is committed on its own so that a long refill never holds locks
    that signups wait on. Returns how many were created.
    """
    target = settings.NOVATIME_TENANT_POOL_SIZE if size is None else size
    tenant_model = get_tenant_model()
    created = 0
    while tenant_model.objects.filter(status=STATUS_POOLED).count() < target:
        with transaction.atomic():
            tenant = tenant_model(schema_name=new_schema_name(), status=STATUS_POOLED)
            tenant.save()
            build_schema(tenant.schema_name)
        created += 1
    if created:
        logger.info("tenant pool refilled with %d schema(s)", created)
    return created


# --- tenants ---------------------------------------------------------------------


def check_slug_available(slug: str) -> str:
    """Validate ``slug`` and check it is free; raises :class:`TenantError`."""
    try:
        value = validate_slug(slug)
    except ValidationError as exc:
        raise TenantError(exc.messages[0], code=exc.code or "slug_invalid") from exc
    tenant_model, domain_model = get_tenant_model(), get_tenant_domain_model()
    if (
        tenant_model.objects.filter(slug=value).exists()
        or domain_model.objects.filter(domain=tenant_host(value)).exists()
    ):
        raise TenantError("This slug is already taken.", code="slug_taken")
    return value


#: Unique constraints that a concurrent signup for the same slug runs into.
_SLUG_CONSTRAINTS = frozenset(
    {"organizations_organization_slug_key", "organizations_domain_domain_key"}
)


@contextmanager
def _slug_race_is_taken() -> Iterator[None]:
    """Two signups for one slug both pass ``check_slug_available``; the
    database refuses the second. Report that as the same 400 ``slug_taken``,
    not a 500 (the caller's transaction rolls back everything else)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint in _SLUG_CONSTRAINTS:
            raise TenantError("This slug is already taken.", code="slug_taken") from exc
        raise


def provision_tenant(
    *, slug: str, name: str, method: str = "auto", status: str = "trialing", **fields: object
) -> Provisioned:
    """Create a tenant with its schema and primary domain, atomically.

    ``method``: ``auto`` (pool, else template, else migrate), or force one.
    ``fields`` are set on the tenant row (timezone, currency, …). Runs inside
    the caller's transaction when there is one, so a signup can add its owner
    membership and still be all-or-nothing.
    """
    if method not in METHODS:
        raise ValueError(f"unknown provisioning method {method!r}")
    slug = check_slug_available(slug)
    with transaction.atomic():
        tenant = _claim_pooled() if method in ("auto", "pool") else None
        used = "pool"
        if tenant is None:
            if method == "pool":
                raise TenantError("The tenant pool is empty.", code="pool_empty")
            tenant = get_tenant_model()(
                schema_name=new_schema_name(), slug=slug, name=name, status="provisioning"
            )
            with _slug_race_is_taken():
                tenant.save()  # claims the slug before the schema is built
            used = build_schema(
                tenant.schema_name, method="migrate" if method == "migrate" else "template"
            )
        tenant.slug, tenant.name, tenant.status = slug, name, status
        if used == "pool":
            # The organization begins now: a spare schema may have waited in
            # the pool for days, and its row's created_at is the pool's, not
            # the customer's (the CLI, the admin and the API all show it).
            tenant.created_at = timezone.now()
        for key, value in fields.items():
            setattr(tenant, key, value)
        try:
            # Field validation only: uniqueness was checked above and the
            # database holds the constraints (full_clean would re-query both).
            tenant.clean_fields(exclude=["schema_name"])
        except ValidationError as exc:
            errors = ", ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise TenantError(f"Invalid organization settings ({errors}).", code="invalid") from exc
        host = tenant_host(slug)
        with _slug_race_is_taken():
            tenant.save()
            get_tenant_domain_model().objects.create(domain=host, tenant=tenant, is_primary=True)
    if used == "pool" and settings.NOVATIME_TENANT_POOL_SIZE:
        transaction.on_commit(_schedule_pool_refill)
    logger.info("tenant %s provisioned in schema %s via %s", slug, tenant.schema_name, used)
    return Provisioned(tenant=tenant, domain=host, method=used)


def _schedule_pool_refill() -> None:
    from .tasks import pool_refill

    try:
        pool_refill.delay()
    except Exception as exc:  # a broker outage must not fail a committed signup
        logger.warning("could not queue pool refill: %s", exc)


def set_tenant_status(tenant: Organization, status: str, **fields: object) -> Organization:
    """Change a tenant's status (and ``fields`` saved with it, in the same
    UPDATE); the host cache is invalidated by the save.

    Which transitions are allowed is a business rule and not decided here
    (``apps.organizations.services.organization_suspend`` / ``_resume``)."""
    tenant.status = status
    for key, value in fields.items():
        setattr(tenant, key, value)
    tenant.save(update_fields=["status", *fields, "updated_at"])
    return tenant


def delete_tenant(tenant: Organization) -> None:
    """Drop the schema, the domains and the row, in one transaction."""
    if tenant.schema_name in (template_schema_name(), "public"):
        raise TenantError("The template and public schemas cannot be deleted.", code="protected")
    with transaction.atomic():
        invalidate_tenant(tenant)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_schema_name(tenant.schema_name)} CASCADE")
        tenant.domains.all().delete()
        tenant.delete(force_drop=False)
    logger.info("tenant %s (schema %s) deleted", tenant.slug, tenant.schema_name)
