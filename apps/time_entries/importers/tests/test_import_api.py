"""POST /api/v1/imports/ with real-layout Toggl Track and Clockify exports
(samples/): dry run, all-or-nothing real run, row errors with line numbers,
matching and creation, locks, overlaps, permissions, isolation, bad files."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.models import Project
from apps.tasks.models import Task
from apps.time_entries.models import TimeEntry
from apps.time_entries.reports.tests.factories import at, make_entry
from apps.timesheets.models import Timesheet

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"
SAMPLES = Path(__file__).parent / "samples"
UTC = datetime.UTC


def upload(client: Any, content: bytes | str, **form: Any) -> Any:
    if isinstance(content, str):
        content = (SAMPLES / content).read_bytes()
    data = {"source": "toggl", "dry_run": "true", **form}
    data["file"] = SimpleUploadedFile("export.csv", content, content_type="text/csv")
    return client.post(URL, data, format="multipart")


def entries() -> list[tuple[Any, ...]]:
    return list(
        TimeEntry.objects.order_by("started_at").values_list(
            "user_id",
            "project__name",
            "task__title",
            "description",
            "started_at",
            "ended_at",
            "duration_seconds",
            "billable",
            "tags",
            "source",
            "hourly_rate",
            "amount",
        )
    )


def expected_entries(acme: SimpleNamespace) -> list[tuple[Any, ...]]:
    a, b = acme.alice.user_id, acme.bob.user_id
    return [
        (
            a,
            "Apollo",
            "Design",
            "Wireframes, v2",
            datetime.datetime(2026, 3, 2, 9, tzinfo=UTC),
            datetime.datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
            5400,
            True,
            ["dev", "urgent"],
            "import",
            Decimal("100.00"),
            Decimal("150.00"),
        ),
        (
            a,
            "Borealis",
            None,
            "Standup",
            datetime.datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
            datetime.datetime(2026, 3, 2, 10, 45, tzinfo=UTC),
            900,
            False,
            [],
            "import",
            Decimal("80.00"),
            Decimal("0.00"),
        ),
        (
            b,
            "Apollo",
            None,
            "Hotfix after\nthe release",
            datetime.datetime(2026, 3, 2, 23, 30, tzinfo=UTC),
            datetime.datetime(2026, 3, 3, 0, 30, tzinfo=UTC),
            3600,
            True,
            ["meeting"],
            "import",
            Decimal("100.00"),
            Decimal("100.00"),
        ),
    ]


# --- happy paths ----------------------------------------------------------------------


def test_dry_run_reports_and_writes_nothing(acme):
    report = expect(upload(acme.manager, "toggl_detailed.csv"), 200)

    assert report["dry_run"] is True
    assert (report["rows"], report["error_count"], report["errors"]) == (3, 0, [])
    assert report["entries"] == {"create": 3, "total_seconds": 5400 + 900 + 3600}
    assert report["users"] == {"match": ["alice@acme.test", "bob@acme.test"]}
    assert report["projects"]["create"] == []
    assert [p["name"] for p in report["projects"]["match"]] == ["Apollo", "Borealis"]
    assert report["clients"] == {"create": [], "match": ["Xylo"]}
    assert report["tasks"] == {"create": [], "match": ["Design"]}
    assert report["tags"] == {"create": ["dev", "meeting", "urgent"], "match": []}
    assert "created" not in report
    with tenant_context(acme.tenant):
        assert not TimeEntry.all_objects.exists()


@pytest.mark.parametrize("source", ["toggl", "clockify"])
def test_real_run_writes_every_entry_with_rates_snapshotted(acme, source):
    report = expect(
        upload(acme.manager, f"{source}_detailed.csv", source=source, dry_run="false"), 201
    )

    assert report["created"] == {"entries": 3, "clients": 0, "projects": 0, "tasks": 0}
    with tenant_context(acme.tenant):
        assert entries() == expected_entries(acme)


def test_times_are_read_in_the_requested_timezone(acme):
    expect(
        upload(acme.manager, "toggl_detailed.csv", dry_run="false", timezone="Europe/Berlin"),
        201,
    )

    with tenant_context(acme.tenant):
        first = TimeEntry.objects.order_by("started_at").first()
        assert first.started_at == datetime.datetime(2026, 3, 2, 8, tzinfo=UTC)


def test_dst_day_durations_are_real_time(acme):
    csv = (
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
        "End date,End time,Duration,Tags,Amount (USD)\n"
        "A,alice@acme.test,Xylo,Apollo,,night,Yes,2026-03-29,01:00:00,2026-03-29,04:00:00,"
        "02:00:00,,\n"
    )

    expect(upload(acme.manager, csv.encode(), dry_run="false", timezone="Europe/Berlin"), 201)

    with tenant_context(acme.tenant):
        assert TimeEntry.objects.get().duration_seconds == 7200  # 02:00→03:00 does not exist


def test_clockify_day_first_dates(acme):
    text = (SAMPLES / "clockify_detailed.csv").read_text().replace("03/02/2026", "02/03/2026")
    text = text.replace("03/03/2026", "03/03/2026")

    report = expect(upload(acme.manager, text.encode(), source="clockify", day_first="true"), 200)

    assert report["error_count"] == 0 and report["entries"]["create"] == 3


def test_create_missing_creates_clients_projects_and_tasks(acme):
    csv = (
        b"User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
        b"End date,End time,Duration,Tags,Amount (USD)\n"
        b"A,alice@acme.test,Nimbus,Zeppelin,Rigging,new,Yes,2026-03-04,09:00:00,2026-03-04,"
        b"10:00:00,01:00:00,,\n"
        b"A,alice@acme.test,Nimbus,Zeppelin,Rigging,new 2,Yes,2026-03-04,10:00:00,2026-03-04,"
        b"11:00:00,01:00:00,,\n"
        b"A,alice@acme.test,Xylo,Apollo,Testing,new task,Yes,2026-03-04,11:00:00,2026-03-04,"
        b"12:00:00,01:00:00,,\n"
    )

    dry = expect(upload(acme.manager, csv, create_missing="true"), 200)
    real = expect(upload(acme.manager, csv, create_missing="true", dry_run="false"), 201)

    assert dry["projects"]["create"] == [{"name": "Zeppelin", "client": "Nimbus"}]
    assert dry["clients"]["create"] == ["Nimbus"]
    assert dry["tasks"]["create"] == ["Rigging", "Testing"]
    assert real["created"] == {"entries": 3, "clients": 1, "projects": 1, "tasks": 2}
    with tenant_context(acme.tenant):
        zeppelin = Project.objects.get(name="Zeppelin")
        assert zeppelin.client.name == "Nimbus"
        assert set(Task.objects.values_list("project__name", "title")) == {
            ("Apollo", "Design"),
            ("Zeppelin", "Rigging"),
            ("Apollo", "Testing"),
        }
        assert TimeEntry.objects.filter(project=zeppelin).count() == 2


def test_created_projects_count_against_the_plan_limit(acme):
    from apps.billing.models import Plan, Subscription

    free = Plan.objects.get(code="free")
    Subscription.objects.create(organization=acme.tenant, plan=free, status="active")
    with tenant_context(acme.tenant):
        room = free.limit("projects") - Project.objects.count()
        before = (Project.objects.count(), TimeEntry.objects.count())
    rows = "".join(
        f"A,alice@acme.test,,New {i},,row {i},Yes,2026-03-04,{9 + i:02d}:00:00,2026-03-04,"
        f"{9 + i:02d}:30:00,00:30:00,,\n"
        for i in range(room + 1)
    )
    csv = (
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
        "End date,End time,Duration,Tags,Amount (USD)\n" + rows
    ).encode()

    expect(
        upload(acme.manager, csv, create_missing="true", dry_run="false"), 402, "plan_limit_reached"
    )
    with tenant_context(acme.tenant):
        assert (Project.objects.count(), TimeEntry.objects.count()) == before


def test_a_member_imports_their_own_rows_only(acme):
    report = expect(upload(acme.member, "toggl_detailed.csv", dry_run="true"), 200)
    own_only = (SAMPLES / "toggl_detailed.csv").read_text(encoding="utf-8-sig").splitlines()
    own_only = "\n".join([own_only[0], *own_only[3:]]) + "\n"

    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (2, "not_allowed"),
        (3, "not_allowed"),
    ]
    expect(upload(acme.member, own_only.encode(), dry_run="false"), 201)
    with tenant_context(acme.tenant):
        assert list(TimeEntry.objects.values_list("user_id", flat=True)) == [acme.bob.user_id]


def test_private_projects_are_unknown_to_members_outside_them(acme):
    own_only = (SAMPLES / "toggl_detailed.csv").read_text(encoding="utf-8-sig").splitlines()
    own_only = ("\n".join([own_only[0], *own_only[3:]]) + "\n").encode()
    with tenant_context(acme.tenant):
        Project.objects.filter(pk__in=[acme.apollo.pk, acme.borealis.pk]).update(is_private=True)

    report = expect(upload(acme.member, own_only, dry_run="true"), 200)
    assert report["errors"]
    assert {e["code"] for e in report["errors"]} == {"unknown_project"}
    expect(upload(acme.member, own_only, dry_run="false"), 400, "import_invalid")
    with tenant_context(acme.tenant):
        assert not TimeEntry.objects.exists()


def test_create_missing_needs_a_manager(acme):
    expect(upload(acme.member, "toggl_detailed.csv", create_missing="true"), 403, "role_required")


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("outsider", 403, "not_a_member"),
        ("viewer", 403, "role_required"),
    ],
)
def test_strangers_and_viewers_are_refused(acme, who, status, code):
    expect(upload(client_as(acme.tenant, who), "toggl_detailed.csv"), status, code)


# --- row errors -------------------------------------------------------------------------


TOGGL_ERRORS = [
    (3, "unknown_user"),
    (4, "invalid_date"),
    (5, "end_before_start"),  # a quoted two-line description: the record starts on line 5
    (7, "unknown_project"),
    (8, "entry_overlap"),
    (9, "entry_too_long"),
    (10, "invalid_billable"),
]


def test_row_errors_carry_line_numbers(acme):
    report = expect(upload(acme.manager, "toggl_with_errors.csv"), 200)

    assert [(e["line"], e["code"]) for e in report["errors"]] == TOGGL_ERRORS
    assert report["error_count"] == 7 and report["entries"]["create"] == 1
    assert report["errors"][4]["message"] == "Overlaps line 2 of this file."


def test_a_real_run_with_errors_writes_nothing(acme):
    projects_before = set(Project.all_objects.values_list("name", flat=True))

    body = expect(
        upload(acme.manager, "toggl_with_errors.csv", dry_run="false", create_missing="true"),
        400,
        "import_invalid",
    )

    assert [(e["line"], e["code"]) for e in body["report"]["errors"]] == [
        e for e in TOGGL_ERRORS if e[1] != "unknown_project"
    ]
    with tenant_context(acme.tenant):
        assert not TimeEntry.all_objects.exists()
        assert set(Project.all_objects.values_list("name", flat=True)) == projects_before


def _tags_file(*tag_cells: str) -> bytes:
    """A Toggl export with one Borealis row per tag cell, an hour apart."""
    header = (
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
        "End date,End time,Duration,Tags,Amount (USD)\n"
    )
    rows = [
        f"Alice,alice@acme.test,,Borealis,,Row {i},Yes,2026-03-02,{9 + i:02d}:00:00,"
        f'2026-03-02,{9 + i:02d}:30:00,00:30:00,"{cell}",40.00\n'
        for i, cell in enumerate(tag_cells)
    ]
    return (header + "".join(rows)).encode()


def test_more_tags_than_the_api_allows_is_a_row_error(acme):
    """Over MAX_TAGS distinct tags (the entries API's limit) a row is refused
    with the API's code and message, by line; it is never silently cut. Case
    duplicates count once, as in the API."""
    from apps.time_entries.services.validation import MAX_TAGS

    twenty = [f"t{i}" for i in range(MAX_TAGS)]
    content = _tags_file(
        "dev",
        ", ".join([*twenty, "one too many"]),
        ", ".join([*twenty, "T0", "t1"]),  # 20 distinct: accepted whole
    )
    too_many = {
        "line": 3,
        "code": "too_many_tags",
        "message": f"At most {MAX_TAGS} tags.",
        "field": "Tags",
    }

    report = expect(upload(acme.manager, content), 200)
    assert report["errors"] == [too_many]
    assert (report["error_count"], report["entries"]["create"]) == (1, 2)

    body = expect(upload(acme.manager, content, dry_run="false"), 400, "import_invalid")
    assert body["report"]["errors"] == [too_many]
    with tenant_context(acme.tenant):
        assert not TimeEntry.all_objects.exists()

    fixed = _tags_file("dev", ", ".join([*twenty, "T0", "t1"]))
    expect(upload(acme.manager, fixed, dry_run="false"), 201)
    with tenant_context(acme.tenant):
        stored = dict(TimeEntry.objects.values_list("description", "tags"))
    assert stored == {"Row 0": ["dev"], "Row 1": twenty}


def test_a_tag_longer_than_the_api_allows_is_a_row_error(acme):
    """A tag over MAX_TAG_LENGTH characters refuses its row with the API's
    code and message (``tag_too_long``), in the dry run and the real run
    (which then writes nothing); it is never cut. A tag of exactly
    MAX_TAG_LENGTH characters (after trimming) is written whole."""
    from apps.time_entries.services.validation import MAX_TAG_LENGTH

    full, too_long = "x" * MAX_TAG_LENGTH, "y" * (MAX_TAG_LENGTH + 1)
    content = _tags_file("dev", f"ok, {too_long}", f" {full} , Dev")
    error = {
        "line": 3,
        "code": "tag_too_long",
        "message": f"Tags have at most {MAX_TAG_LENGTH} characters ({MAX_TAG_LENGTH + 1} given).",
        "field": "Tags",
    }

    report = expect(upload(acme.manager, content), 200)
    assert report["errors"] == [error]
    assert (report["error_count"], report["entries"]["create"]) == (1, 2)

    body = expect(upload(acme.manager, content, dry_run="false"), 400, "import_invalid")
    assert body["report"]["errors"] == [error]
    with tenant_context(acme.tenant):
        assert not TimeEntry.all_objects.exists()

    fixed = _tags_file("dev", f" {full} , Dev")
    expect(upload(acme.manager, fixed, dry_run="false"), 201)
    with tenant_context(acme.tenant):
        stored = dict(TimeEntry.objects.values_list("description", "tags"))
    assert stored == {"Row 0": ["dev"], "Row 1": [full, "Dev"]}


def test_import_and_api_refuse_the_same_tags_with_the_same_code_and_message(acme):
    """One rule: what the entries API answers for a tag list is what the
    import reports for the same tags in a row."""
    from apps.time_entries.services.validation import MAX_TAG_LENGTH, MAX_TAGS

    cases = [
        [f"t{i}" for i in range(MAX_TAGS + 1)],
        ["z" * (MAX_TAG_LENGTH + 1)],
    ]
    for tags in cases:
        api = expect(
            acme.manager.post(
                "/api/v1/time-entries/",
                {
                    "project": str(acme.borealis.pk),
                    "started_at": "2026-03-02T09:00:00Z",
                    "ended_at": "2026-03-02T10:00:00Z",
                    "tags": tags,
                },
                format="json",
            ),
            400,
        )
        for dry_run in ("true", "false"):
            response = upload(acme.manager, _tags_file(", ".join(tags)), dry_run=dry_run)
            report = response.json() if dry_run == "true" else response.json()["report"]
            assert [(e["code"], e["message"]) for e in report["errors"]] == [
                (api["code"], api["message"])
            ]
    with tenant_context(acme.tenant):
        assert not TimeEntry.all_objects.exists()


def test_overlap_with_existing_entries_and_running_timers(acme):
    with tenant_context(acme.tenant):
        existing = make_entry(
            user_id=acme.alice.user_id,
            project=acme.apollo,
            start=at("2026-03-02 10:00"),
            seconds=600,
        )
        make_entry(
            user_id=acme.bob.user_id,
            project=acme.apollo,
            start=at("2026-03-02 22:00"),
            seconds=None,
        )

    report = expect(upload(acme.manager, "toggl_detailed.csv"), 200)

    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (2, "entry_overlap"),
        (4, "entry_overlap"),
    ]
    assert str(existing.pk) in report["errors"][0]["message"]


def test_overlaps_are_fine_where_the_organization_allows_them(acme):
    acme.tenant.allow_overlapping_entries = True
    acme.tenant.save(update_fields=["allow_overlapping_entries"])
    with tenant_context(acme.tenant):
        make_entry(
            user_id=acme.alice.user_id,
            project=acme.apollo,
            start=at("2026-03-02 10:00"),
            seconds=600,
        )

    expect(upload(acme.manager, "toggl_detailed.csv", dry_run="false"), 201)

    with tenant_context(acme.tenant):
        assert TimeEntry.objects.filter(source="import", overlap_allowed=True).count() == 3


@pytest.mark.parametrize("status", ["submitted", "approved"])
def test_locked_timesheets_refuse_rows(acme, status):
    with tenant_context(acme.tenant):
        Timesheet.objects.create(
            user_id=acme.bob.user_id,
            period_start=datetime.date(2026, 3, 2),
            period_end=datetime.date(2026, 3, 8),
            status=status,
        )

    report = expect(upload(acme.manager, "toggl_detailed.csv"), 200)

    assert [(e["line"], e["code"]) for e in report["errors"]] == [(4, "entry_locked")]


def test_the_import_refuses_locked_rows_through_the_one_lock_rule(acme, monkeypatch):
    """The import asks apps.time_entries.locking, the rule every write asks,
    not a copy of it: each row gets the answer ``locking_timesheet`` gives for
    its span, and that answer alone decides the row."""
    from apps.time_entries import locking

    with tenant_context(acme.tenant):
        sheet = Timesheet.objects.create(
            user_id=acme.bob.user_id,
            period_start=datetime.date(2026, 3, 2),
            period_end=datetime.date(2026, 3, 8),
            status="submitted",
        )
    asked = []
    covering = locking.LockedSheets.covering

    def spy(self, *, user_id, started_at, ended_at):
        found = covering(self, user_id=user_id, started_at=started_at, ended_at=ended_at)
        one = locking.locking_timesheet(user_id=user_id, started_at=started_at, ended_at=ended_at)
        asked.append((found, one))
        return found

    monkeypatch.setattr(locking.LockedSheets, "covering", spy)
    report = expect(upload(acme.manager, "toggl_detailed.csv"), 200)

    assert [(e["line"], e["code"]) for e in report["errors"]] == [(4, "entry_locked")]
    assert sorted(str(found) for found, _ in asked) == sorted(["None", "None", str(sheet)])
    assert all(found == one for found, one in asked)

    monkeypatch.setattr(locking.LockedSheets, "covering", lambda self, **span: None)
    assert expect(upload(acme.manager, "toggl_detailed.csv"), 200)["error_count"] == 0


def test_archived_projects_take_no_time(acme):
    with tenant_context(acme.tenant):
        Project.objects.filter(pk=acme.borealis.pk).update(status="archived")

    report = expect(upload(acme.manager, "toggl_detailed.csv"), 200)

    assert [(e["line"], e["code"]) for e in report["errors"]] == [(3, "project_archived")]


def test_a_lost_race_on_the_constraint_is_a_409_not_a_500(acme, monkeypatch):
    from apps.time_entries.importers import planning

    with tenant_context(acme.tenant):
        make_entry(
            user_id=acme.alice.user_id,
            project=acme.apollo,
            start=at("2026-03-02 10:00"),
            seconds=600,
        )
    # As if the overlapping entry had been written after the checks ran.
    monkeypatch.setattr(planning, "_check_locks_and_overlaps", lambda plan, org: None)

    expect(upload(acme.manager, "toggl_detailed.csv", dry_run="false"), 409, "import_conflict")

    with tenant_context(acme.tenant):
        assert TimeEntry.objects.count() == 1


# --- isolation ------------------------------------------------------------------------


def test_members_of_another_organization_are_unknown_here(acme, other_tenant):
    carol = UserFactory(email="carol@globex.test")
    MembershipFactory(organization=other_tenant, user=carol, role="owner")
    csv = (
        b"User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
        b"End date,End time,Duration,Tags,Amount (USD)\n"
        b"C,carol@globex.test,Xylo,Apollo,,x,Yes,2026-03-02,09:00:00,2026-03-02,10:00:00,01:00:00,,\n"
    )

    report = expect(upload(acme.manager, csv), 200)
    globex = expect(
        upload(client_as(other_tenant, carol.memberships.get()), "toggl_detailed.csv"), 200
    )

    assert [e["code"] for e in report["errors"]] == ["unknown_user"]
    # acme's projects do not exist on globex, and acme's members are unknown there
    assert {e["code"] for e in globex["errors"]} == {"unknown_user"}
    with tenant_context(other_tenant):
        assert (
            not TimeEntry.all_objects.exists()
            and not Project.all_objects.filter(name="Apollo").exists()
        )


# --- bad files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"Email,Project,Start date\nx@y.z,P,2026-01-01\n", "import_unknown_layout"),
        ("Café".encode("latin-1") + b",x\n", "import_bad_encoding"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "import_bad_encoding"),
        (b"", "invalid"),  # DRF: "The submitted file is empty."
        (
            b"User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
            b"End date,End time,Duration,Tags\n",
            "import_empty",
        ),
        (
            b"User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
            b'End date,End time,Duration,Tags\nA,a@b.c,,P,,"unterminated,Yes,2026-01-01\n',
            "import_malformed",
        ),
    ],
)
def test_unreadable_files_are_400(acme, content, code):
    expect(upload(acme.manager, content), 400, code)


def test_too_large_files_are_refused_before_reading(acme, monkeypatch):
    monkeypatch.setattr("apps.time_entries.importers.services.MAX_FILE_BYTES", 100)

    expect(upload(acme.manager, "toggl_detailed.csv"), 400, "import_too_large")


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"source": "harvest"}, "source"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"dry_run": "perhaps"}, "dry_run"),
    ],
)
def test_bad_form_fields_are_400(acme, form, field):
    body = expect(upload(acme.manager, "toggl_detailed.csv", **form), 400, "invalid")

    assert field in body["fields"]


def test_missing_file_is_400(acme):
    body = expect(acme.manager.post(URL, {"source": "toggl"}, format="multipart"), 400, "invalid")

    assert "file" in body["fields"]


def test_a_real_run_tells_each_imported_user_after_commit(acme, emitted):
    with emitted() as events:
        expect(upload(acme.manager, "toggl_detailed.csv", dry_run="false"), 201)

    seen = sorted((e.type, e.op, e.data["count"], tuple(e.user_ids)) for e in events)
    assert seen == sorted(
        [
            ("time_entry", "imported", 2, (str(acme.alice.user_id),)),
            ("time_entry", "imported", 1, (str(acme.bob.user_id),)),
        ]
    )


def test_a_dry_run_emits_nothing(acme, emitted):
    with emitted() as events:
        expect(upload(acme.manager, "toggl_detailed.csv"), 200)

    assert events == []
