"""Money visibility matrix (issue #18): every endpoint and event that can carry
an amount x role (owner/admin/manager/member/viewer) x the organization's
``members_see_rates`` setting.

The rule under test is ``apps.time_entries.money.may_view_money``:

* ``own`` endpoints carry money made of the caller's own time (for managers
  and above, of everybody's): shown to ``rates.view`` (manager+), and to
  members and viewers only when the organization sets ``members_see_rates``;
* ``org`` endpoints carry money that is not only the caller's (rates,
  budgets, team totals): ``rates.view`` only, whatever the setting;
* events carry no money at all (their audience is not filtered by role).

Every money value planted below is a distinct number, so a leak is found
wherever it hides: as a JSON value, inside a sentence (the AI summary), in a
CSV or XLSX cell. Where money is hidden, the body must hold none of them, no
money-named field with a value and no currency-formatted amount; where it is
allowed, the probe's own figure must be there.

The guard at the end fails when a serializer field named like money appears
in the OpenAPI document without being covered here (or declared not money).
"""

from __future__ import annotations

import datetime
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ClientFactory, ProjectFactory, ProjectMemberFactory
from apps.time_entries.models import TimeEntry
from apps.time_entries.reports.tests.factories import at, make_entry
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.tests.factories import TimesheetFactory

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "manager", "member", "viewer"]
MANAGERS = {"owner", "admin", "manager"}
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}

#: The caller's own money: their entry's rate and amount (1 h at 123.45).
OWN = "123.45"
#: Money that is never only the caller's own.
PROJECT_RATE, BUDGET, MEMBER_RATE = "111.11", "100.01", "55.55"
ORG_RATE, TERMS_RATE, COLLEAGUE = "77.77", "88.88", "67.89"
SPENT = "191.34"  # 123.45 + 67.89: the project's budget spent
ALL_MONEY = (OWN, PROJECT_RATE, BUDGET, MEMBER_RATE, ORG_RATE, TERMS_RATE, COLLEAGUE, SPENT)
OTHERS_MONEY = tuple(m for m in ALL_MONEY if m != OWN)

#: Field names that carry money (names, not values: ``rates`` in ``members_see_rates``
#: is a setting, ``budget_hours``/``spent_hours`` are time).
MONEY_NAME = re.compile(
    r"(^|_)(amount|amounts|rate|rates|price|prices|cost|costs|budget|spent|money|revenue"
    r"|fee|fees|salary|wage)($|_)"
)
NOT_MONEY_NAMES = {"members_see_rates", "budget_hours", "spent_hours", "hours"}
CURRENCY_AMOUNT = re.compile(r"\d\.\d\d ?(EUR|USD)\b|\b(EUR|USD|€|\$) ?\d")


@pytest.fixture
def world(tenant: Any, in_tenant: Any, request: Any) -> Callable[[str, bool], SimpleNamespace]:
    """Builds, for one role and setting, an organization holding every kind
    of money once (distinct values, see the module constants)."""

    def build(role: str, members_see_rates: bool) -> SimpleNamespace:
        tenant.currency = "EUR"
        tenant.members_see_rates = members_see_rates
        tenant.default_hourly_rate = Decimal(ORG_RATE)
        tenant.save(update_fields=["currency", "members_see_rates", "default_hourly_rate"])
        caller = client_as(tenant, role)
        caller.membership.hourly_rate = Decimal(TERMS_RATE)
        caller.membership.save(update_fields=["hourly_rate"])
        colleague = MembershipFactory(organization=tenant, role="member")
        project = ProjectFactory(
            name="Moon",
            client=ClientFactory(name="Acme US", currency="USD"),
            hourly_rate=Decimal(PROJECT_RATE),
            budget_amount=Decimal(BUDGET),
        )
        ProjectMemberFactory(
            project=project, user_id=caller.user.pk, hourly_rate=Decimal(MEMBER_RATE)
        )
        sheet = TimesheetFactory(
            user_id=caller.user.pk,
            period_start=datetime.date(2026, 3, 2),
            status=TimesheetStatus.APPROVED,
            approved_total_seconds=3600,
            approved_billable_seconds=3600,
            approved_billable_amount=Decimal(OWN),
            approved_billable_amounts=[{"currency": "USD", "amount": OWN}],
        )
        own = make_entry(
            user_id=caller.user.pk,
            project=project,
            start=at("2026-03-02 09:00"),
            seconds=3600,
            rate=OWN,
            timesheet=sheet,
        )
        make_entry(
            user_id=colleague.user_id,
            project=project,
            start=at("2026-03-02 11:00"),
            seconds=3600,
            rate=COLLEAGUE,
        )
        make_entry(
            user_id=caller.user.pk,
            project=project,
            start=timezone.now() - datetime.timedelta(minutes=5),
            seconds=None,
            rate=OWN,
        )
        return SimpleNamespace(
            caller=caller, role=role, project=project, own=own, sheet=sheet, tenant=tenant
        )

    return build


# --- reading a response ---------------------------------------------------------------


@dataclass
class Answer:
    status: int
    text: str  # everything the client receives, as text
    data: Any = None  # the JSON body, when JSON


def _json(response: Any) -> Answer:
    data = response.json() if response.content else None
    return Answer(response.status_code, json.dumps(data), data)


def _file(response: Any) -> Answer:
    if response.status_code != 200:
        return _json(response)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if body.startswith(b"PK"):  # XLSX: every cell's value
        book = load_workbook(io.BytesIO(body), read_only=True)
        cells = [
            str(value)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        ]
        return Answer(200, "\n".join(cells))
    return Answer(200, body.decode("utf-8-sig"))


def _money_fields(data: Any, path: str = "") -> list[str]:
    """Money-named fields holding a value (``null``/``[]`` hide nothing)."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}"
            if (
                MONEY_NAME.search(key)
                and key not in NOT_MONEY_NAMES
                and value not in (None, [])
                and not isinstance(value, (bool, dict))  # a dict is searched inside
            ):
                found.append(where)
            found += _money_fields(value, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _money_fields(value, f"{path}[{i}]")
    return found


# --- the endpoints that can carry an amount -------------------------------------------


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str  # "own" or "org" (see the module doc)
    shows: str  # the figure that must be there when money is allowed
    fetch: Callable[[SimpleNamespace], Answer]
    #: Roles refused outright (403: nothing to leak, nothing to show).
    refused: frozenset[str] = frozenset()
    #: Money fields of the JSON body that must be there for every role that
    #: gets a 200, holding the figure or ``null``/``[]`` when hidden: a hidden
    #: amount is null, never a missing key (API.md names them). Dotted paths;
    #: ``*`` is every item of a list.
    fields: tuple[str, ...] = ()


def _missing_fields(data: Any, paths: tuple[str, ...]) -> list[str]:
    """The ``paths`` (see :attr:`Probe.fields`) absent from ``data``; a path
    through an empty list or a missing parent is missing too."""
    missing = []
    for path in paths:
        nodes, parts = [data], path.split(".")
        for part in parts[:-1]:
            if part == "*":
                nodes = [item for node in nodes if isinstance(node, list) for item in node]
            else:
                nodes = [node[part] for node in nodes if isinstance(node, dict) and part in node]
        if not nodes or any(not isinstance(n, dict) or parts[-1] not in n for n in nodes):
            missing.append(path)
    return missing


def _get(path: str, params: dict[str, Any] | None = None, *, file: bool = False) -> Any:
    def fetch(w: SimpleNamespace) -> Answer:
        url = path.format(w=w)
        response = w.caller.get(url, params or {})
        return _file(response) if file else _json(response)

    return fetch


NOT_MANAGERS = frozenset({"member", "viewer"})
PROBES = [
    # Time entries (TimeEntrySerializer: hourly_rate, amount).
    Probe(
        "time entry list",
        "own",
        OWN,
        _get("/api/v1/time-entries/", WEEK),
        fields=("results.*.hourly_rate", "results.*.amount"),
    ),
    Probe(
        "time entry detail",
        "own",
        OWN,
        _get("/api/v1/time-entries/{w.own.pk}/"),
        fields=("hourly_rate", "amount"),
    ),
    Probe("running timer", "own", OWN, _get("/api/v1/timer/")),
    # Reports and their exports (Summary*, DetailedEntry, the files' money columns).
    Probe(
        "summary report",
        "own",
        OWN,
        _get("/api/v1/reports/summary/", {**WEEK, "group_by": "user"}),
        fields=(
            "billable_amount",
            "billable_amounts",
            "groups.*.billable_amount",
            "groups.*.billable_amounts",
        ),
    ),
    Probe(
        "detailed report",
        "own",
        OWN,
        _get("/api/v1/reports/detailed/", WEEK),
        fields=("results.*.hourly_rate", "results.*.billable_amount"),
    ),
    Probe("CSV detailed export", "own", OWN, _get("/api/v1/reports/export/", WEEK, file=True)),
    Probe(
        "CSV summary export",
        "own",
        OWN,
        _get("/api/v1/reports/export/", {**WEEK, "type": "summary", "group_by": "user"}, file=True),
    ),
    Probe(
        "XLSX detailed export",
        "own",
        OWN,
        _get("/api/v1/reports/export/", {**WEEK, "format": "xlsx"}, file=True),
    ),
    Probe(
        "XLSX summary export",
        "own",
        OWN,
        _get(
            "/api/v1/reports/export/",
            {**WEEK, "format": "xlsx", "type": "summary", "group_by": "user"},
            file=True,
        ),
    ),
    # Timesheets (Timesheet, TimesheetDetailSchema, TimesheetEntry, ProjectTotal).
    Probe("timesheet list (approval snapshot)", "own", OWN, _get("/api/v1/timesheets/")),
    Probe("timesheet detail", "own", OWN, _get("/api/v1/timesheets/{w.sheet.pk}/")),
    Probe(
        "timesheet overview",
        "org",
        COLLEAGUE,
        _get("/api/v1/timesheets/overview/", {"period_start": "2026-03-02"}),
        refused=NOT_MANAGERS,
    ),
    Probe(
        "timesheet export",
        "org",
        OWN,
        _get("/api/v1/timesheets/export/", {"period_start": "2026-03-02"}, file=True),
        refused=NOT_MANAGERS,
    ),
    # AI: the summary's text and facts; budget insights (team scope).
    Probe(
        "AI summary",
        "own",
        OWN,
        lambda w: _json(w.caller.post("/api/v1/ai/summary/", WEEK, format="json")),
    ),
    Probe(
        "AI insights (team)",
        "org",
        SPENT,
        _get("/api/v1/ai/insights/", {"scope": "team", "days": 7}),
        refused=NOT_MANAGERS,
    ),
    # Projects: rates, budget amount, budget spent, project members' rates.
    Probe("project list", "org", SPENT, _get("/api/v1/projects/")),
    Probe(
        "project detail",
        "org",
        PROJECT_RATE,
        _get("/api/v1/projects/{w.project.pk}/"),
        # No fields: the projects API leaves rates out below rates.view (its
        # documented contract since it was written, apps/projects README).
    ),
    Probe("project members", "org", MEMBER_RATE, _get("/api/v1/projects/{w.project.pk}/members/")),
    # The organization's default rate and a member's terms.
    Probe(
        "organization settings",
        "org",
        ORG_RATE,
        _get("/api/v1/organization/"),
        fields=("default_hourly_rate",),
    ),
    Probe(
        "member terms",
        "org",
        TERMS_RATE,
        _get("/api/v1/members/{w.caller.membership.pk}/"),
        # No fields: below rates.view this is the Member shape, without terms.
    ),
]


def _allowed(probe: Probe, role: str, members_see_rates: bool) -> bool:
    if role in MANAGERS:
        return True
    return probe.kind == "own" and members_see_rates


@pytest.mark.parametrize("members_see_rates", [False, True], ids=["rates-hidden", "rates-shown"])
@pytest.mark.parametrize("role", ROLES)
def test_money_follows_one_rule_everywhere(world, role, members_see_rates):
    w = world(role, members_see_rates)
    problems = []
    for probe in PROBES:
        answer = probe.fetch(w)
        if role in probe.refused:
            if answer.status != 403:
                problems.append(f"{probe.name}: {answer.status}, expected 403")
            continue
        if answer.status != 200:
            problems.append(f"{probe.name}: {answer.status} {answer.text[:200]}")
            continue
        missing = _missing_fields(answer.data, probe.fields)
        if missing:
            problems.append(f"{probe.name}: money fields missing (hidden is null): {missing}")
        allowed = _allowed(probe, role, members_see_rates)
        if allowed:
            if probe.shows not in answer.text:
                problems.append(f"{probe.name}: {probe.shows} missing where allowed")
            if role not in MANAGERS:
                # A member sees the money of their own time, never anyone else's.
                leaked = [m for m in OTHERS_MONEY if m in answer.text]
                if leaked:
                    problems.append(f"{probe.name}: others' money {leaked} shown to a {role}")
            continue
        leaked = [m for m in ALL_MONEY if m in answer.text]
        fields = _money_fields(answer.data)
        formatted = CURRENCY_AMOUNT.findall(answer.text)
        if leaked or fields or formatted:
            problems.append(f"{probe.name}: hidden money leaks {leaked} {fields} {formatted}")
    assert not problems, "\n".join(problems)


# --- realtime events ------------------------------------------------------------------


def test_events_carry_no_money(tenant, in_tenant, emitted):
    """Every action that writes money (a rate, a budget, priced entries, a
    timesheet snapshot) emits its events without any: the socket audience is
    not filtered by role, so money never rides on an event."""
    tenant.default_hourly_rate = Decimal(ORG_RATE)
    tenant.save(update_fields=["default_hourly_rate"])
    manager, member, admin = (client_as(tenant, r) for r in ("manager", "member", "admin"))
    start = "2026-03-02T09:00:00Z"
    with emitted() as events:
        project = manager.post(
            "/api/v1/projects/",
            {"name": "Moon", "hourly_rate": PROJECT_RATE, "budget_amount": BUDGET},
            format="json",
        ).json()["id"]
        manager.patch(f"/api/v1/projects/{project}/", {"hourly_rate": OWN}, format="json")
        manager.post(
            f"/api/v1/projects/{project}/members/",
            {"user": str(member.user.pk), "hourly_rate": MEMBER_RATE},
            format="json",
        )
        admin.patch("/api/v1/organization/", {"default_hourly_rate": TERMS_RATE}, format="json")
        entry = member.post(
            "/api/v1/time-entries/",
            {"project": project, "started_at": start, "ended_at": "2026-03-02T10:00:00Z"},
            format="json",
        ).json()
        member.patch(f"/api/v1/time-entries/{entry['id']}/", {"billable": True}, format="json")
        member.post("/api/v1/timer/start/", {"project": project}, format="json")
        member.post("/api/v1/timer/stop/", {}, format="json")
        sheet = member.post("/api/v1/timesheets/", {"period_start": "2026-03-02"}).json()
        member.post(f"/api/v1/timesheets/{sheet['id']}/submit/", {})
        manager.post(f"/api/v1/timesheets/{sheet['id']}/approve/", {})
    # The project member's rate priced the entry (so there was money to leak).
    assert TimeEntry.objects.get(pk=entry["id"]).amount == Decimal(MEMBER_RATE)
    kinds = {(e.type, e.op) for e in events}
    assert {("time_entry", "created"), ("timer", "started"), ("timesheet", "approved")} <= kinds
    leaks = []
    for event in events:
        text = json.dumps(event.data)
        found = [m for m in ALL_MONEY if m in text] + _money_fields(event.data)
        if found:
            leaks.append(f"{event.type}.{event.op}: {found}")
    assert not leaks, "\n".join(leaks)


# --- guard: no money-named field outside this matrix ------------------------------------

#: ``Component.field`` of every money-named output field of the organization
#: host's OpenAPI document, with the probe that covers it.
COVERED = {
    "TimeEntry.hourly_rate": "time entry list/detail, running timer",
    "TimeEntry.amount": "time entry list/detail, running timer",
    "Summary.billable_amount": "summary report, CSV/XLSX summary export",
    "Summary.billable_amounts": "summary report",
    "SummaryGroup.billable_amount": "summary report",
    "SummaryGroup.billable_amounts": "summary report",
    "SummarySubgroup.billable_amount": "summary report",
    "SummarySubgroup.billable_amounts": "summary report",
    "CurrencyAmount.amount": "summary report, timesheets (per-currency lists)",
    "DetailedEntry.hourly_rate": "detailed report, CSV/XLSX detailed export",
    "DetailedEntry.billable_amount": "detailed report, CSV/XLSX detailed export",
    "Timesheet.approved_billable_amount": "timesheet list (approval snapshot)",
    "Timesheet.approved_billable_amounts": "timesheet list (approval snapshot)",
    "TimesheetDetailSchema.approved_billable_amount": "timesheet detail",
    "TimesheetDetailSchema.approved_billable_amounts": "timesheet detail",
    "TimesheetDetailSchema.billable_amount": "timesheet detail",
    "TimesheetDetailSchema.billable_amounts": "timesheet detail",
    "TimesheetEntry.hourly_rate": "timesheet detail",
    "TimesheetEntry.amount": "timesheet detail",
    "ProjectTotal.billable_amount": "timesheet detail",
    "OverviewRow.billable_amount": "timesheet overview",
    "OverviewRow.billable_amounts": "timesheet overview",
    "Project.hourly_rate": "project list/detail",
    "Project.budget_amount": "project list/detail",
    "Project.budget": "project list/detail (budget.amount, budget.spent_amount)",
    "ProjectBudget.amount": "project list/detail",
    "ProjectBudget.spent_amount": "project list/detail",
    "ProjectMember.hourly_rate": "project members",
    "OrganizationSettings.default_hourly_rate": "organization settings",
    "MemberWithTerms.hourly_rate": "member terms",
}
#: Money-named fields that are not money of the organization's time.
NOT_MONEY = {
    "Plan.price_per_seat": "NovaTime's public list price of a plan, not a rate or an amount",
}


def _money_named_outputs() -> set[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)
    found = set()
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):  # inputs (COMPONENT_SPLIT_REQUEST)
            continue
        for field in component.get("properties", {}):
            if MONEY_NAME.search(field) and field not in NOT_MONEY_NAMES:
                found.add(f"{name}.{field}")
    return found


def test_every_money_named_field_is_in_the_matrix():
    """A new serializer field named like money (amount, rate, price, cost,
    budget, spent, fee, ...) must be added to ``COVERED`` with a probe above
    (or to ``NOT_MONEY`` with the reason); a covered field that disappeared
    must leave it too."""
    found = _money_named_outputs()
    declared = set(COVERED) | set(NOT_MONEY)
    assert not found - declared, (
        f"money-named fields outside the matrix: {sorted(found - declared)}"
    )
    assert not declared - found, f"declared but gone: {sorted(declared - found)}"


def test_the_guard_recognises_money_names():
    names = ["amount", "billable_amounts", "hourly_rate", "unit_price", "travel_cost", "spent"]
    assert all(MONEY_NAME.search(n) for n in names)
    assert not any(MONEY_NAME.search(n) for n in ["duration_seconds", "currency", "separate"])
