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
value). Rows come back through ``RawQuerySet``: model instances with the
annotations as attributes; no ``select_related`` (it raises).
"""

from __future__ import annotations

import datetime
import random
import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from django.db import models

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
}


class PreparedQueryError(RuntimeError):
    """The builder's values could not be located in its compiled SQL."""


class _Slot:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class PreparedQuery(Generic[M]):
    """``build(**values)`` → queryset, compiled once per shape.

    ``params`` names the values and their types (``uuid.UUID``,
    ``datetime.datetime`` or ``datetime.date``); ``run(shape, **values)``
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
        self._lock = threading.Lock()

    def run(self, shape: Hashable = None, **values: Any) -> list[M]:
        compiled = self._compiled.get(shape)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(shape) or self._compile(shape)
                self._compiled[shape] = compiled
        queryset, sql, slots = compiled
        params = [self._value(s.name, values[s.name]) if isinstance(s, _Slot) else s for s in slots]
        return list(queryset.model._default_manager.raw(sql, params))

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
