"""Querysets compiled to SQL once per process, then run with new values.

Django compiles a queryset to SQL on every evaluation. For most queries that
is noise; on the timer's hot path it was not: the project look-up with its
rate hierarchy (three subqueries and a visibility ``EXISTS``) took 3.3 ms of
CPU to compile on the benchmark machine and 0.3 ms to run. ``PreparedQuery``
keeps the ORM as the one definition of such a query — no hand-written SQL to
drift from it — and compiles it once per *shape* (whatever changes the SQL
text, e.g. a role that sees every project), then binds each call's values.

How the values are found in the compiled SQL: the builder is called twice
with two different sets of sentinel values; the parameter positions that
differ between the two compilations must be exactly the positions holding
the sentinels, or compilation fails loudly (a value the ORM transformed, or
one baked into the SQL text, would otherwise silently keep the first call's
value). Rows come back as model instances with the annotations as
attributes, read as ``RawQuerySet`` reads them (the same column matching
and database converters) but with that reading planned once per shape too:
``RawQuerySet`` re-derived it on every call, which cost as much CPU as the
query's round trip. A queryset with ``select_related`` is read the way
Django's ``ModelIterable`` reads it (the related instances populated), from
the reading plan of the compiler that compiled its SQL.
"""

from __future__ import annotations

import datetime
import random
import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=models.Model)

_SENTINEL_FACTORIES: dict[type, Callable[[], Any]] = {
    uuid.UUID: uuid.uuid4,
    datetime.datetime: lambda: (
        datetime.datetime(1901, 1, 1, tzinfo=datetime.UTC)
        + datetime.timedelta(microseconds=random.randrange(1, 10**12))
    ),
    datetime.date: lambda: (
        datetime.date(1901, 1, 1) + datetime.timedelta(days=random.randrange(1, 30_000))
    ),
    str: lambda: f"prepared-query-sentinel-{uuid.uuid4().hex}",
}


class PreparedQueryError(RuntimeError):
    """The builder's values could not be located in its compiled SQL."""


class _Slot:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _converted(row: tuple[Any, ...], converters: dict[int, Any], connection: Any) -> list[Any]:
    """``row`` through the compiler's converters (``{position: (converters,
    expression)}``), with the calling thread's connection."""
    values = list(row)
    for pos, (functions, expression) in converters.items():
        for converter in functions:
            values[pos] = converter(values[pos], expression, connection)
    return values


class _Reader(Generic[M]):
    """Turns a result row into a model instance, as ``RawQuerySet`` does:
    columns named like a field's column fill that field (through the
    field's and the backend's converters), the others become attributes."""

    __slots__ = ("annotations", "converters", "db", "init_names", "init_positions", "model")

    def __init__(self, queryset: models.QuerySet[M], columns: list[str]) -> None:
        model = queryset.model
        self.model = model
        self.db = queryset.db
        connection = connections[self.db]
        convert = connection.introspection.identifier_converter

        def column(field: Any) -> str:  # a concrete field always has one
            return str(convert(field.column))

        by_column = {column(f): f for f in model._meta.concrete_fields}
        init_fields = [f for f in model._meta.fields if column(f) in columns]
        if model._meta.pk not in init_fields:
            raise PreparedQueryError("the query must select the primary key")
        self.init_names = [f.attname for f in init_fields]
        self.init_positions = [columns.index(column(f)) for f in init_fields]
        self.annotations = [(c, i) for i, c in enumerate(columns) if c not in by_column]
        compiler = queryset.query.get_compiler(using=self.db)
        fields = [by_column.get(c) for c in columns]
        self.converters = compiler.get_converters(
            [f.get_col(f.model._meta.db_table) if f else None for f in fields]
        )

    def instances(self, rows: list[tuple[Any, ...]]) -> list[M]:
        connection = connections[self.db]
        out = []
        for row in rows:
            values = _converted(row, self.converters, connection)
            instance = self.model.from_db(
                self.db, self.init_names, [values[pos] for pos in self.init_positions]
            )
            for column, pos in self.annotations:
                setattr(instance, column, values[pos])
            out.append(instance)
        return out


class _RelatedReader(Generic[M]):
    """Turns a result row into a model instance with its ``select_related``
    instances, as Django's ``ModelIterable`` does, planned once from the
    compiler that compiled the SQL (its select list is the SQL's columns).
    Converters get the calling thread's connection, as in :class:`_Reader`."""

    __slots__ = ("annotations", "converters", "db", "init_list", "model", "populators", "span")

    def __init__(self, db: str, compiler: SQLCompiler) -> None:
        select, klass_info = compiler.select, compiler.klass_info
        assert klass_info is not None  # a model query
        self.db = db
        self.model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.span = (start, end)
        self.init_list = [column[0].target.attname for column in select[start:end]]
        # Django 5.2 takes three arguments; django-stubs describes 6.0 (fetch_mode).
        self.populators = get_related_populators(klass_info, select, db)  # type: ignore[call-arg]
        self.annotations = dict(compiler.annotation_col_map or {})
        self.converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])

    def instances(self, rows: list[tuple[Any, ...]]) -> list[M]:
        connection = connections[self.db]
        start, end = self.span
        out = []
        for row in rows:
            values = _converted(row, self.converters, connection)
            instance = self.model.from_db(self.db, self.init_list, values[start:end])
            for populator in self.populators:
                populator.populate(values, instance)
            for name, pos in self.annotations.items():
                setattr(instance, name, values[pos])
            out.append(instance)
        return out


class PreparedQuery(Generic[M]):
    """``build(**values)`` → queryset, compiled once per shape.

    ``params`` names the values and their types (``uuid.UUID``,
    ``datetime.datetime``, ``datetime.date`` or ``str``); ``run(shape, **values)``
    returns the rows (a UUID may be given as its text). ``build`` receives
    ``shape`` as its first argument.
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], **params: type) -> None:
        unknown = [t for t in params.values() if t not in _SENTINEL_FACTORIES]
        if unknown:
            raise PreparedQueryError(f"no sentinel for parameter types {unknown}")
        self._build = build
        self._params = params
        self._compiled: dict[Hashable, tuple[models.QuerySet[M], str, list[Any]]] = {}
        self._readers: dict[Hashable, _Reader[M] | _RelatedReader[M]] = {}
        self._lock = threading.Lock()

    def sql(self, shape: Hashable = None, **values: Any) -> tuple[str, list[Any]]:
        """The compiled SQL of ``shape`` and its parameters for ``values``
        (to embed the query in another statement, e.g. the timer's INSERT in
        ``apps.time_entries.hot_path``)."""
        _, sql, params = self._bound(shape, values)
        return sql, params

    def _bound(
        self, shape: Hashable, values: dict[str, Any]
    ) -> tuple[models.QuerySet[M], str, list[Any]]:
        compiled = self._compiled.get(shape)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(shape) or self._compile(shape)
                self._compiled[shape] = compiled
        queryset, sql, slots = compiled
        params = [self._value(s.name, values[s.name]) if isinstance(s, _Slot) else s for s in slots]
        return queryset, sql, params

    def run(self, shape: Hashable = None, **values: Any) -> list[M]:
        queryset, sql, params = self._bound(shape, values)
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            reader = self._readers.get(shape)
            if reader is None:
                # Planned from the first result's column names (the same for
                # every run of this SQL text); a race only plans it twice.
                reader = _Reader(queryset, [column.name for column in cursor.description])
                self._readers[shape] = reader
        return reader.instances(rows)

    def _value(self, name: str, value: Any) -> Any:
        """A UUID parameter may come as its text (ids from URLs, Celery
        arguments); malformed text raises ``ValueError``."""
        if self._params[name] is uuid.UUID and not isinstance(value, uuid.UUID):
            return uuid.UUID(str(value))
        return value

    def _compile(self, shape: Hashable) -> tuple[models.QuerySet[M], str, list[Any]]:
        first = {name: _SENTINEL_FACTORIES[kind]() for name, kind in self._params.items()}
        second = {name: _SENTINEL_FACTORIES[kind]() for name, kind in self._params.items()}
        queryset = self._build(shape, **first)
        if queryset.query.select_related:
            # Read as Django reads it, planned by the compiler of this SQL.
            compiler = queryset.query.get_compiler(using=queryset.db)
            sql, params = compiler.as_sql()
            self._readers[shape] = _RelatedReader(queryset.db, compiler)
        else:
            sql, params = queryset.query.sql_with_params()
        sql_again, params_again = self._build(shape, **second).query.sql_with_params()
        if sql != sql_again or len(params) != len(params_again):
            raise PreparedQueryError("the SQL text depends on the values: make them a shape")
        by_value = {value: name for name, value in first.items()}
        slots: list[Any] = []
        for value, value_again in zip(params, params_again, strict=True):
            name = by_value.get(value) if isinstance(value, Hashable) else None
            if name is not None and value_again == second[name]:
                slots.append(_Slot(name))
            elif value == value_again:
                slots.append(value)  # a constant of this shape
            else:
                raise PreparedQueryError(f"a value was transformed on its way to SQL: {value!r}")
        return queryset, sql, slots
