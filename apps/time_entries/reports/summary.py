"""The summary report: totals grouped by up to two dimensions, in one SQL query.

One statement computes the grand total, the first-level groups and the
second-level groups together, so the numbers at each level come from the same
snapshot and add up: a plain ``GROUP BY d1, d2`` over the entries (which
PostgreSQL parallelises), then ``GROUP BY GROUPING SETS ((), (d1), (d1, d2))``
over those leaf rows (grouping sets never run in parallel; over a few
thousand rows they cost nothing). The
``tag`` dimension multiplies an entry by its tags (``unnest``): grouping sets
that contain ``tag`` are computed over the unnested rows, the others over the
plain rows (``UNION ALL`` of two grouped selects), so a total never counts a
tagged entry twice. Labels (project, client and task names, user names from
the public schema) are joined onto the few result rows in the same statement.

Amounts are never added across currencies: when the caller may see money, the
entry's currency (:mod:`apps.time_entries.money`: the client's, else the
organization's) is one more grouping key at every level, and each node lists
``billable_amounts`` per currency; ``billable_amount`` keeps its old meaning
only when one currency is present (see :func:`report_summary`).

The currency is never looked up per entry (joining projects and clients onto
every entry cost +26 % to +79 % at 400,000 entries, see
docs/benchmarks/reports.md). An entry's currency depends on its project
alone, so: when no client of the organization sets a currency other than
the organization's (one query over the few clients,
:func:`has_foreign_currency`), every amount is in the organization's
currency and the statement is the one without money plus a constant;
otherwise the leaves are also grouped by project and the currency is joined
onto those leaf rows (thousands, not the entries) before the grouping sets.
Either way each per-currency total is the exact ``numeric`` sum of the same
entries' amounts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from apps.time_entries.money import (
    entry_currency_sql,
    single_amount,
    single_currency,
)

from .query import ReportQuery

#: Where the label of an entity dimension comes from (table, SQL over alias ``t``).
_LABEL_TABLES = {
    "project": ("projects_project", "{t}.name"),
    "client": ("projects_client", "{t}.name"),
    "task": ("tasks_task", "{t}.title"),
    # User.full_name: "first last", stripped, else the email.
    "user": (
        "iam_user",
        "COALESCE(NULLIF(btrim(concat_ws(' ', {t}.first_name, {t}.last_name)), ''), {t}.email)",
    ),
}
NO_LABEL = {
    "project": "(no project)",
    "client": "(no client)",
    "user": "(unknown user)",
    "task": "(no task)",
    "tag": "(no tag)",
    "day": "",
    "week": "",
}


def _dimension_sql(dimension: str, week_start: int) -> str:
    """The key expression of ``dimension`` over the base rows ``e`` (and ``t``)."""
    if dimension == "tag":
        return "t.tag"
    if dimension == "week":
        # Local day minus its offset from the organization's first weekday.
        return f"(e.day - MOD(EXTRACT(ISODOW FROM e.day)::int + 6 - {int(week_start)}, 7))"
    return {
        "project": "e.project_id",
        "client": "e.client_id",
        "user": "e.user_id",
        "task": "e.task_id",
        "day": "e.day",
    }[dimension]


def has_foreign_currency(organization_currency: str) -> bool:
    """Whether a client (archived or soft-deleted ones too: old entries keep
    their project) sets a currency other than the organization's, i.e.
    whether a report can hold more than one currency."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM projects_client WHERE currency <> '' AND currency <> %s)",
            [organization_currency],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def base_rows_sql(query: ReportQuery, *, need_client: bool) -> tuple[str, list[Any]]:
    """The filtered entries with their local day, rounded seconds and amount
    (projects are joined only to group or filter by client; the amount's
    currency is decided on the aggregated rows, see :func:`summary_sql`)."""
    rounding = query.rounding
    seconds = rounding.seconds_sql("te.duration_seconds")
    amount = rounding.amount_sql(
        seconds_column="te.duration_seconds",
        rate_column="te.hourly_rate",
        amount_column="te.amount",
    )
    where, params = query.where_sql()
    join_project = need_client or query.clients is not None
    client = "p.client_id" if join_project else "NULL::uuid"
    sql = (
        "SELECT te.user_id, te.project_id, te.task_id, "
        f"{client} AS client_id, te.billable, te.tags, "
        "(te.started_at AT TIME ZONE %s)::date AS day, "
        f"{seconds} AS secs, "
        f"CASE WHEN te.billable THEN {amount} ELSE 0 END AS amt "
        "FROM time_entries_timeentry te "
        + ("JOIN projects_project p ON p.id = te.project_id " if join_project else "")
        + f"WHERE {where}"
    )
    return sql, [query.timezone, *params]


def summary_sql(query: ReportQuery, *, mixed: bool | None = None) -> tuple[str, list[Any]]:
    """The one aggregate statement: rows of ``(level, k1, k2, currency, total,
    billable, amount, billable entries, labels...)``, one per node and currency
    (the currency is ``NULL`` when amounts are hidden).

    ``mixed``: whether entries can be in another currency than the
    organization's (default: :func:`has_foreign_currency`, asked only when
    money is shown)."""
    dims = list(query.group_by)
    base, params = base_rows_sql(query, need_client="client" in dims)
    money = query.show_amounts
    if money and mixed is None:
        mixed = has_foreign_currency(query.currency)
    by_project = bool(money and mixed)
    body_params: list[Any] = []
    sets = [tuple(dims[:n]) for n in range(len(dims) + 1)]  # (), (d1,), (d1, d2)
    parts = {
        False: [s for s in sets if "tag" not in s],
        True: [s for s in sets if "tag" in s],
    }
    selects = []
    for unnested, part_sets in parts.items():
        if not part_sets:
            continue
        used = [d for d in dims if any(d in s for s in part_sets)]
        inner_cols = [
            f"{_dimension_sql(d, query.week_start)} AS k{i + 1}"
            for i, d in enumerate(dims)
            if d in used
        ]
        source = "e"
        if unnested:
            source += (
                " CROSS JOIN LATERAL unnest(CASE WHEN cardinality(e.tags) = 0 "
                "THEN ARRAY[NULL]::varchar[] ELSE e.tags END) AS t(tag)"
            )
        # Step 1, the heavy one: a plain GROUP BY over the entries at the finest
        # level (PostgreSQL runs it with parallel workers). Step 2: GROUPING SETS
        # over those few thousand rows for the coarser levels and the total
        # (grouping sets themselves never run in parallel).
        # The currency is one more key at every level: amounts in different
        # currencies are never summed together. It follows the project, so
        # with several currencies the leaves keep the project and the
        # currency is joined onto them (never onto every entry).
        finest = [f"k{i + 1}" for i, d in enumerate(dims) if d in used]
        pid = ["e.project_id AS pid"] if by_project else []
        leaf_keys = ", ".join([*finest, *(["pid"] if by_project else [])]) or "()"
        leaves = (
            f"SELECT {', '.join([*inner_cols, *pid, ''])}"
            "SUM(e.secs) AS secs, "
            "SUM(CASE WHEN e.billable THEN e.secs ELSE 0 END) AS bsecs, "
            "SUM(e.amt) AS amt, "
            "COUNT(*) FILTER (WHERE e.billable) AS bn "
            f"FROM {source} GROUP BY {leaf_keys}"
        )
        if by_project:
            leaves = (
                f"SELECT l.*, {entry_currency_sql(client_alias='c')} AS cur FROM ({leaves}) l "
                "JOIN projects_project p ON p.id = l.pid "
                "LEFT JOIN projects_client c ON c.id = p.client_id"
            )
            body_params.append(query.currency)
        elif money:
            leaves = f"SELECT l.*, %s::text AS cur FROM ({leaves}) l"
            body_params.append(query.currency)
        else:
            leaves = f"SELECT l.*, NULL::text AS cur FROM ({leaves}) l"
        outer_keys = []
        level_terms = []
        for i, d in enumerate(dims):
            name = f"k{i + 1}"
            if d in used:
                # Keys and money leave PostgreSQL as text: building 10,000 UUID
                # and Decimal objects only to print them again costs more than
                # the final GROUPING SETS step.
                outer_keys.append(f"{name}::text")
                level_terms.append(f"(1 - GROUPING({name}))")
            else:
                outer_keys.append(f"NULL::text AS {name}")
        level = " + ".join(level_terms) if level_terms else "0"
        grouping = ", ".join(
            "(" + ", ".join([*(f"k{dims.index(d) + 1}" for d in s), "cur"]) + ")" for s in part_sets
        )
        selects.append(
            f"SELECT {level} AS level, {', '.join([*outer_keys, ''])}x.cur AS cur, "
            "SUM(x.secs)::bigint AS total, SUM(x.bsecs)::bigint AS billable, "
            "ROUND(COALESCE(SUM(x.amt), 0), 2)::text AS amount, "
            "SUM(x.bn)::bigint AS bn "
            f"FROM ({leaves}) x GROUP BY GROUPING SETS ({grouping})"
        )
    body = " UNION ALL ".join(selects)
    # Labels in the same statement (one round trip): names of projects,
    # clients, tasks, and of users from the public schema (on the search_path).
    label_cols, joins = [], []
    for i, d in enumerate(dims):
        key, alias = f"r.k{i + 1}", f"l{i + 1}"
        if d in _LABEL_TABLES:
            table, column = _LABEL_TABLES[d]
            joins.append(f"LEFT JOIN {table} {alias} ON {alias}.id = {key}::uuid")
            label_cols.append(column.format(t=alias))
        else:
            label_cols.append("NULL::text")
    keys = ", ".join(f"r.k{i + 1}" for i in range(len(dims)))
    select = ", ".join(
        c for c in ["r.level", keys, "r.cur, r.total, r.billable, r.amount, r.bn", *label_cols] if c
    )
    cte = "WITH e AS MATERIALIZED" if parts[True] else "WITH e AS"
    sql = f"{cte} ({base}) SELECT {select} FROM ({body}) r {' '.join(joins)}"
    return sql, [*params, *body_params]


def report_summary(query: ReportQuery) -> dict[str, Any]:
    """The summary report (shape in API.md and the app README).

    Every node (the total, each group, each subgroup) has ``total_seconds``,
    ``billable_seconds`` and, when the caller may see money:

    * ``billable_amounts``: ``[{currency, amount}]``, one per currency of the
      node's billable entries, sorted by currency (``[]`` without any);
    * ``billable_amount``: the amount when the node has one currency
      (``"0.00"`` with none), ``null`` when it mixes several (API.md's field,
      kept for clients that read it: it was the sum over currencies before);
    * ``currency``: the currency of ``billable_amount`` (the organization's
      when the node has no money, ``null`` when mixed).

    Without money all three are ``null``.
    """
    sql, params = summary_sql(query)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    dims = list(query.group_by)
    money = query.show_amounts
    n = len(dims)
    # Rows come per node *and currency*: merge them (seconds add up across
    # currencies, amounts stay apart). Nearly every node has one row, so a
    # node is a small list (level, keys, names, total, billable, money) and
    # its first row fills it without further allocation: this loop runs
    # 10,000 times for a project x user report.
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        level = row[0]
        currency, total, billable, amount, billable_count = row[n + 1 : n + 6]
        key = row[: level + 1]
        node = merged.get(key)
        if node is None:
            money_of = {currency: amount} if money and billable_count else {}
            merged[key] = [level, row[1 : n + 1], row[n + 6 :], total or 0, billable or 0, money_of]
            continue
        node[3] += total or 0
        node[4] += billable or 0
        if money and billable_count:
            node[5][currency] = amount

    def totals(node: list[Any] | None) -> dict[str, Any]:
        if node is None:
            node = [0, (), (), 0, 0, {}]
        if not money:
            amounts = None
            single, currency = None, None
        else:
            # The amounts are exact two-decimal text already (ROUND(.., 2)::text).
            by_currency = node[5]
            amounts = [{"currency": c, "amount": by_currency[c]} for c in sorted(by_currency)]
            single, currency = single_amount(amounts), single_currency(amounts, query.currency)
        return {
            "total_seconds": int(node[3]),
            "billable_seconds": int(node[4]),
            "billable_amount": single,
            "billable_amounts": amounts,
            "currency": currency,
        }

    result: dict[str, Any] = totals(merged.get((0,)))
    first: dict[Any, dict[str, Any]] = {}
    second: list[tuple[Any, dict[str, Any]]] = []
    for node in merged.values():
        level, keys, names = node[0], node[1], node[2]
        if level == 1:
            first[keys[0]] = {**_key(dims[0], keys[0], names[0]), **totals(node)}
        elif level == 2:
            second.append((keys[0], {**_key(dims[1], keys[1], names[1]), **totals(node)}))
    if len(dims) == 2:
        for group in first.values():
            group["groups"] = []
        for parent, group in second:
            first[parent]["groups"].append(group)
        for group in first.values():
            group["groups"].sort(key=_sort_key(dims[1]))
    result["groups"] = sorted(first.values(), key=_sort_key(dims[0])) if dims else []
    return result


def _key(dimension: str, key: str | None, name: str | None) -> dict[str, Any]:
    """``key`` is text already (id, tag or ISO date); ``name`` the joined label."""
    if key is None:
        return {"key": None, "label": NO_LABEL[dimension]}
    if dimension == "day" or dimension == "tag":
        return {"key": key, "label": key}
    if dimension == "week":
        return {"key": key, "label": f"Week of {key}"}
    return {"key": key, "label": name if name is not None else NO_LABEL[dimension]}


def _sort_key(dimension: str) -> Any:
    # Dates in calendar order; names alphabetically; the "no ..." group last.
    if dimension in ("day", "week"):
        return lambda g: g["key"] or ""
    return lambda g: (g["key"] is None, g["label"].casefold(), g["key"] or "")


def user_identities(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """``(full name or email, email)`` of users, from the public schema in one query."""
    users = get_user_model().objects.filter(pk__in=list(ids))
    return {
        pk: (f"{first} {last}".strip() or email, email)
        for pk, first, last, email in users.values_list("pk", "first_name", "last_name", "email")
    }


def user_labels(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Full names (or emails) of users, from the public schema in one query."""
    return {pk: name for pk, (name, _) in user_identities(ids).items()}
