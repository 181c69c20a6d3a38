"""django-tenants' backend, made to skip ``SET search_path`` when the session
certainly holds the path already.

django-tenants (with ``TENANT_LIMIT_SET_CALLS``) sends the SET again after
every tenant switch and on every checkout from the pool: selecting a tenant
forgets what was sent, and so does handing the connection back, since the
next checkout may get another physical connection, left on another tenant's
schema. On the timer's hot path that SET is one round trip of about seven
per request (bench/timer_load.py), and the request's tenant is nearly always
the one the session already holds.

The wrapper keeps a second record: the path the *session* holds, as opposed
to the path django-tenants last sent for the *selected* tenant. It is

- set by a SET that went through;
- kept when a tenant is selected (``set_tenant`` changes nothing in the
  session);
- forgotten whenever django-tenants forgets its own record for any other
  reason: a rollback or savepoint rollback (PostgreSQL undoes a SET made in
  the rolled-back part), a failed SET, closing, and code that ran foreign SQL
  on the session and says so in django-tenants' own way
  (``search_path_set_schemas = None``, as ``tenants.provisioning`` does);
- forgotten, with django-tenants' own record, when a failed transaction is
  committed: PostgreSQL turns that COMMIT into a silent ROLLBACK (django-tenants
  alone would go on trusting a SET the rollback undid, for the rest of the
  connection's life); and forgotten while a SET is on its way;
- handed over with a pooled connection: left on it when it goes back to the
  pool, but only if the session is idle, because psycopg's pool rolls back a
  connection returned mid-transaction, undoing a SET made in it; taken back
  at the next checkout. A new connection, or one returned broken, has none.

A cursor skips the SET only when the session's record equals the path the
selected tenant needs; in every other case the SET is sent as before. The
record is only ever cleared or set from a SET that succeeded, so an error in
it can only cost a SET, never skip one, provided code that changes the
session's search_path itself forgets the record (the rule django-tenants'
own record already depends on). tests/isolation/test_pooled_search_path.py checks each
case against ``current_schema()`` of the real session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_tenants.postgresql_backend import base as tenants_base
from django_tenants.utils import get_limit_set_calls
from psycopg.pq import TransactionStatus

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper
    from psycopg import Connection
    from psycopg.rows import TupleRow

    from apps.organizations.models import Organization

#: Attribute of a pooled psycopg connection: the search_path (a tuple of
#: schema names) its session held when it was handed back, or None.
HELD_PATH = "_novatime_search_path"


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: The search_path the session holds, when certain.
        self._session_path: tuple[str, ...] | None = None
        self._selecting_tenant = False
        self._set_schemas: list[str] | None = None
        super().__init__(*args, **kwargs)

    # django-tenants' record of the path it sent for the selected tenant.
    @property
    def search_path_set_schemas(self) -> list[str] | None:
        return self._set_schemas

    @search_path_set_schemas.setter
    def search_path_set_schemas(self, value: list[str] | None) -> None:
        self._set_schemas = value
        if value:
            self._session_path = tuple(value)
        elif not self._selecting_tenant:
            self._session_path = None

    def set_tenant(
        self, tenant: Organization | tenants_base.FakeTenant, include_public: bool = True
    ) -> None:
        self._selecting_tenant = True
        try:
            super().set_tenant(tenant, include_public)
        finally:
            self._selecting_tenant = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection[TupleRow]:
        conn = super().get_new_connection(conn_params)
        held = None
        if self.pool:
            held = getattr(conn, HELD_PATH, None)
            setattr(conn, HELD_PATH, None)
        self._session_path = held
        return conn

    def _handle_search_path(self, cursor: CursorWrapper | None = None) -> None:
        if (
            self._session_path is not None
            and not self._setting_search_path
            and not self.search_path_set_schemas
            and self.schema_name
            and get_limit_set_calls()
        ):
            wanted = self._get_cursor_search_paths()
            if tuple(wanted) == self._session_path:
                self.search_path_set_schemas = wanted
                return
        if not self._setting_search_path and not self.search_path_set_schemas:
            # A SET is about to be sent: until it is known to have gone
            # through, the session's path is not known.
            self._session_path = None
        super()._handle_search_path(cursor)

    def _commit(self) -> None:
        conn = self.connection
        if conn is not None and conn.info.transaction_status == TransactionStatus.INERROR:
            # PostgreSQL answers COMMIT in a failed transaction (an error
            # caught without a savepoint, or ``set_rollback(False)``) with a
            # ROLLBACK and no error, undoing any SET made in it: forget both
            # records, as for any rollback.
            self.search_path_set_schemas = None
        parent: Any = super()  # _commit is not in the stubs
        parent._commit()

    def close(self) -> None:
        self.validate_thread_sharing()
        self._hand_over_path()
        super().close()

    def _hand_over_path(self) -> None:
        """Before a pooled connection goes back: leave the session's path on
        it if, and only if, it is certain (module docstring)."""
        conn = self.connection
        if conn is None or not self.pool or self.closed_in_transaction:
            return  # (closed in a transaction: already back, maybe lent again)
        certain = (
            self._session_path is not None
            and not self.in_atomic_block
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        setattr(conn, HELD_PATH, self._session_path if certain else None)
