"""GET /api/v1/reports/summary/: exact totals against the hand-checked week in
conftest.py, grouping, rounding, time zones, permissions, isolation, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ProjectFactory

from .factories import at, make_entry

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/summary/"
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}


def summary(client: Any, **params: Any) -> dict[str, Any]:
    return expect(client.get(URL, {**WEEK, **params}), 200)


def brief(groups: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(label, total, billable, amount[, children]) per group, for exact comparison."""
    out = []
    for g in groups:
        row: tuple[Any, ...] = (
            g["label"],
            g["total_seconds"],
            g["billable_seconds"],
            g["billable_amount"],
        )
        if "groups" in g:
            row += (brief(g["groups"]),)
        out.append(row)
    return out


def set_org(tenant: Any, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.save(update_fields=list(fields))


def test_project_user_totals_are_exact(week):
    report = summary(week.alice, group_by="project,user")

    assert (report["total_seconds"], report["billable_seconds"], report["billable_amount"]) == (
        14220,
        13800,
        "376.67",
    )
    assert brief(report["groups"]) == [
        (
            "Apollo",
            13020,
            12600,
            "350.00",
            [("Alice Archer", 5400, 5400, "150.00"), ("Bob Baker", 7620, 7200, "200.00")],
        ),
        ("Borealis", 1200, 1200, "26.67", [("Alice Archer", 1200, 1200, "26.67")]),
    ]
    apollo = report["groups"][0]
    assert apollo["key"] == str(week.project_a.pk)
    assert apollo["groups"][0]["key"] == week.a


def test_default_grouping_is_by_project(week):
    report = summary(week.alice)

    assert brief(report["groups"]) == [
        ("Apollo", 13020, 12600, "350.00"),
        ("Borealis", 1200, 1200, "26.67"),
    ]


def test_client_and_task_groups_keep_a_none_group(week):
    by_client = summary(week.alice, group_by="client")
    by_task = summary(week.alice, group_by="task")

    assert brief(by_client["groups"]) == [
        ("Xylo", 13020, 12600, "350.00"),
        ("(no client)", 1200, 1200, "26.67"),
    ]
    assert by_client["groups"][1]["key"] is None
    assert brief(by_task["groups"]) == [
        ("Design", 5400, 5400, "150.00"),
        ("(no task)", 8820, 8400, "226.67"),
    ]


def test_tags_count_an_entry_under_each_tag_but_once_in_totals(week):
    report = summary(week.alice, group_by="tag")

    assert report["total_seconds"] == 14220
    assert brief(report["groups"]) == [
        ("dev", 6600, 6600, "176.67"),
        ("meeting", 7200, 7200, "200.00"),
        ("urgent", 5400, 5400, "150.00"),
        ("(no tag)", 420, 0, "0.00"),
    ]


def test_tag_as_second_dimension_keeps_first_level_totals(week):
    report = summary(week.alice, group_by="project,tag")

    assert brief(report["groups"]) == [
        (
            "Apollo",
            13020,
            12600,
            "350.00",
            [
                ("dev", 5400, 5400, "150.00"),
                ("meeting", 7200, 7200, "200.00"),
                ("urgent", 5400, 5400, "150.00"),
                ("(no tag)", 420, 0, "0.00"),
            ],
        ),
        ("Borealis", 1200, 1200, "26.67", [("dev", 1200, 1200, "26.67")]),
    ]
    assert report["total_seconds"] == 14220


def test_tag_then_user(week):
    report = summary(week.alice, group_by="tag,user")

    assert brief(report["groups"])[0] == (
        "dev",
        6600,
        6600,
        "176.67",
        [("Alice Archer", 6600, 6600, "176.67")],
    )


def test_filters(week):
    assert summary(week.alice, users=week.b)["total_seconds"] == 7620
    assert summary(week.alice, projects=str(week.project_b.pk))["total_seconds"] == 1200
    assert summary(week.alice, clients=str(week.xylo.pk))["total_seconds"] == 13020
    assert summary(week.alice, tags="urgent,meeting")["total_seconds"] == 12600
    assert summary(week.alice, billable="false")["total_seconds"] == 420
    both = week.alice.get(URL + f"?from=2026-03-02&to=2026-03-08&users={week.a}&users={week.b}")
    assert expect(both, 200)["total_seconds"] == 14220


def test_the_range_is_inclusive_and_excludes_other_days(week):
    assert (
        summary(week.alice, **{"from": "2026-03-10", "to": "2026-03-10"})["total_seconds"] == 3600
    )
    assert (
        summary(week.alice, **{"from": "2026-03-02", "to": "2026-03-10"})["total_seconds"] == 17820
    )
    assert summary(week.alice, **{"from": "2026-03-03", "to": "2026-03-09"})["total_seconds"] == 0


@pytest.mark.parametrize(
    ("mode", "minutes", "total", "billable", "amount"),
    [
        # e1 5400, e2 1200, e3 420 (not billable), e4 7200 — rounded one by one
        ("none", 15, 14220, 13800, "376.67"),
        ("up", 15, 5400 + 1800 + 900 + 7200, 5400 + 1800 + 7200, "390.00"),
        ("down", 15, 5400 + 900 + 0 + 7200, 5400 + 900 + 7200, "370.00"),
        ("nearest", 15, 5400 + 900 + 0 + 7200, 5400 + 900 + 7200, "370.00"),
        ("nearest", 6, 5400 + 1080 + 360 + 7200, 5400 + 1080 + 7200, "374.00"),
        ("up", 1, 14220, 13800, "376.67"),
    ],
)
def test_rounding_is_applied_per_entry(week, mode, minutes, total, billable, amount):
    set_org(week.tenant, rounding_mode=mode, rounding_minutes=minutes)

    report = summary(week.alice, group_by="user")

    assert (report["total_seconds"], report["billable_seconds"], report["billable_amount"]) == (
        total,
        billable,
        amount,
    )
    assert sum(g["total_seconds"] for g in report["groups"]) == total
    with tenant_context(week.tenant):
        from apps.time_entries.models import TimeEntry

        stored = TimeEntry.objects.exclude(duration_seconds=None)
        assert sorted(stored.values_list("duration_seconds", flat=True)) == [
            420,
            1200,
            3600,
            5400,
            7200,  # stored times untouched (03-10 entry too)
        ]


def test_an_entry_counts_on_the_local_day_it_starts(in_tenant):
    set_org(in_tenant, timezone="Europe/Berlin")  # UTC+1 in March
    manager = client_as(in_tenant, "manager")
    project = ProjectFactory(name="Night")
    uid = manager.user.pk
    # 23:30-00:30 local, crossing midnight: counts whole on 03-02.
    make_entry(
        user_id=uid, project=project, start=at("2026-03-02 23:30", "Europe/Berlin"), seconds=3600
    )
    # 23:30 UTC on 03-02 is 00:30 local on 03-03.
    make_entry(user_id=uid, project=project, start=at("2026-03-02 23:30", "UTC"), seconds=600)

    monday = summary(manager, **{"from": "2026-03-02", "to": "2026-03-02"}, group_by="day")
    tuesday = summary(manager, **{"from": "2026-03-03", "to": "2026-03-03"}, group_by="day")

    assert brief(monday["groups"]) == [("2026-03-02", 3600, 3600, "0.00")]
    assert brief(tuesday["groups"]) == [("2026-03-03", 600, 600, "0.00")]


@pytest.mark.parametrize(
    ("week_start", "expected"),
    [
        (
            0,
            [
                ("Week of 2026-03-16", 900),
                ("Week of 2026-03-23", 7200),
                ("Week of 2026-03-30", 1800),
            ],
        ),
        # Sunday start: 03-29 (the DST Sunday) opens a week that Monday 03-30 joins.
        (6, [("Week of 2026-03-22", 900), ("Week of 2026-03-29", 7200 + 1800)]),
    ],
)
def test_weeks_follow_week_start_across_dst(in_tenant, week_start, expected):
    set_org(in_tenant, timezone="Europe/Berlin", week_start=week_start)
    manager = client_as(in_tenant, "manager")
    project = ProjectFactory(name="DST")
    uid = manager.user.pk
    # Sunday 03-22 23:00 local (still winter time)
    make_entry(
        user_id=uid, project=project, start=at("2026-03-22 23:00", "Europe/Berlin"), seconds=900
    )
    # Sunday 03-29 01:00 → 04:00 local: clocks jump 02:00 → 03:00, so 2 real hours.
    make_entry(user_id=uid, project=project, start=at("2026-03-29 00:00", "UTC"), seconds=7200)
    # Monday 03-30 00:30 local = 03-29 22:30 UTC (summer time, UTC+2).
    make_entry(user_id=uid, project=project, start=at("2026-03-29 22:30", "UTC"), seconds=1800)

    report = summary(manager, **{"from": "2026-03-16", "to": "2026-04-05"}, group_by="week")

    assert [(g["label"], g["total_seconds"]) for g in report["groups"]] == expected


def test_days_within_weeks(week):
    report = summary(week.alice, group_by="week,day")

    assert brief(report["groups"]) == [
        ("Week of 2026-03-02", 14220, 13800, "376.67", [("2026-03-02", 14220, 13800, "376.67")])
    ]


# --- who sees what ------------------------------------------------------------------


def test_a_member_sees_only_their_own_time_and_no_amounts(week):
    report = summary(week.bob, group_by="project,user")
    asked_for_alice = summary(week.bob, users=week.a)

    assert (report["total_seconds"], report["billable_amount"]) == (7620, None)
    assert brief(report["groups"]) == [
        ("Apollo", 7620, 7200, None, [("Bob Baker", 7620, 7200, None)])
    ]
    assert (asked_for_alice["total_seconds"], asked_for_alice["groups"]) == (0, [])


def test_members_see_their_amounts_when_the_organization_allows(week):
    set_org(week.tenant, members_see_rates=True)

    assert summary(week.bob)["billable_amount"] == "200.00"


@pytest.mark.parametrize(("role", "total"), [("viewer", 0), ("admin", 14220), ("owner", 14220)])
def test_roles(week, role, total):
    report = summary(client_as(week.tenant, role))

    assert report["total_seconds"] == total


@pytest.mark.parametrize(
    ("who", "status", "code"), [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]
)
def test_strangers_are_refused(week, who, status, code):
    expect(client_as(week.tenant, who).get(URL, WEEK), status, code)


def test_other_tenants_entries_never_show(week, other_tenant):
    # alice is a member of globex too and tracked time there on the same day.
    MembershipFactory(organization=other_tenant, user=week.alice.user, role="owner")
    with tenant_context(other_tenant):
        foreign = ProjectFactory(name="Foreign")
        make_entry(
            user_id=week.alice.user.pk, project=foreign, start=at("2026-03-02 15:00"), seconds=999
        )
    globex = client_as(other_tenant, week.alice.user.memberships.get(organization=other_tenant))

    acme_report = summary(week.alice, group_by="project")
    globex_report = summary(globex, group_by="project")
    by_foreign_id = summary(week.alice, projects=str(foreign.pk))

    assert acme_report["total_seconds"] == 14220
    assert [g["label"] for g in acme_report["groups"]] == ["Apollo", "Borealis"]
    assert brief(globex_report["groups"]) == [("Foreign", 999, 999, "0.00")]
    assert by_foreign_id["total_seconds"] == 0


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-02"}, "to"),
        ({"to": "2026-03-02"}, "from"),
        ({"from": "2026-03-09", "to": "2026-03-02"}, "to"),
        ({"from": "2026-13-01", "to": "2026-03-02"}, "from"),
        ({"from": "2020-01-01", "to": "2026-03-02"}, "to"),
        ({**WEEK, "group_by": "project,user,day"}, "group_by"),
        ({**WEEK, "group_by": "colour"}, "group_by"),
        ({**WEEK, "group_by": "user,user"}, "group_by"),
        ({**WEEK, "users": "not-a-uuid"}, "users"),
        ({**WEEK, "billable": "maybe"}, "billable"),
    ],
)
def test_bad_parameters_are_400_with_fields(week, params, field):
    body = expect(week.alice.get(URL, params), 400, "invalid")

    assert field in body["fields"]


def _count_queries(client: Any, **params: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        summary(client, **params)
    return len(queries)


def test_query_count_does_not_grow_with_data(week, django_assert_max_num_queries):
    summary(week.alice)  # warm the host-resolution cache
    before = _count_queries(week.alice, group_by="project,user")
    carol = MembershipFactory(organization=week.tenant, role="member").user
    with tenant_context(week.tenant):
        for i in range(30):
            project = ProjectFactory(name=f"Extra {i}")
            start = at(f"2026-03-04 {i // 2:02d}:{i % 2 * 30:02d}")
            make_entry(user_id=carol.pk, project=project, start=start, seconds=60)
    # search_path + membership + the one report statement (labels joined in)
    with django_assert_max_num_queries(3):
        report = summary(week.alice, group_by="project,user")
    after = _count_queries(week.alice, group_by="project,user")

    assert len(report["groups"]) == 32
    assert after == before


def test_a_user_without_a_name_is_labelled_by_email(week):
    week.bob.user.first_name = week.bob.user.last_name = ""
    week.bob.user.save(update_fields=["first_name", "last_name"])

    report = summary(week.alice, group_by="user")

    assert [g["label"] for g in report["groups"]] == ["Alice Archer", week.bob.user.email]
