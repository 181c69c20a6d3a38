"""The error-code catalogue: every ``code`` the API answers, its status and meaning.

Clients branch on ``code`` (ARCHITECTURE.md, "Errors"), so a code is part of the
contract: one code per situation across apps, never two names for one thing.
This table is the single list. ``apps.common.openapi.error_responses`` documents
an operation's codes from it (an enum per operation), the app READMEs list the
codes of their app, and ``apps/common/tests/test_error_codes.py`` fails when
code raises a literal code that is not here.

Situations shared by every app have one code:

- an unknown or invisible id in a request body: 400 ``does_not_exist``
  (``apps.common.errors.does_not_exist``; DRF's related fields say the same);
- an unknown or invisible object in the URL: 404 ``not_found``;
- a role too weak, owners-only included: 403 ``role_required`` with the
  missing ``permission`` (``apps.organizations.permissions.require``);
- an object only its author may change (a message, a comment, one's own
  entry): 403 ``not_author``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final, NamedTuple


class ErrorCode(NamedTuple):
    status: int
    meaning: str


def _codes(status: int, **meanings: str) -> dict[str, ErrorCode]:
    return {code: ErrorCode(status, meaning) for code, meaning in meanings.items()}


def _merge(*groups: dict[str, ErrorCode]) -> dict[str, ErrorCode]:
    """One table from the groups; a code defined twice is a mistake (one code,
    one meaning), refused at import."""
    merged: dict[str, ErrorCode] = {}
    for group in groups:
        twice = merged.keys() & group.keys()
        if twice:
            raise ValueError(f"error codes defined twice: {sorted(twice)}")
        merged.update(group)
    return merged


ERROR_CODES: Final[dict[str, ErrorCode]] = _merge(
    # --- any endpoint ------------------------------------------------------------------
    _codes(
        400,
        invalid="Input failed validation; `fields` says where.",
        does_not_exist="An id in the body names nothing the caller may use.",
        required="A required value is missing.",
        unique="The value is already taken.",
        bad_request="The request could not be understood.",
        parse_error="Malformed body: not JSON, not UTF-8, or a non-finite number.",
        json_too_deep="JSON nested over 64 levels.",
        invalid_characters="NUL or a lone surrogate in the path, a parameter or the body.",
        too_many_fields="Over 1000 parameters or form fields.",
        date_out_of_range="A date outside 1900-01-01..9998-12-31.",
        page_out_of_range="A page number over the supported maximum.",
        invalid_date_range="`to` before `from`, or a range over the allowed length.",
        naive_datetime="A datetime without a UTC offset.",
        invalid_timezone="Not an IANA time zone.",
        invalid_currency="Not an ISO 4217 currency code.",
        host_not_allowed="The Host header names no host served here.",
    ),
    _codes(
        401,
        not_authenticated="No credentials.",
        authentication_failed="Credentials given but not valid.",
    ),
    _codes(
        403,
        permission_denied="Not allowed.",
        not_a_member="The caller is not an active member of this organization.",
        role_required="The caller's role lacks `permission`.",
        not_author="Only the author of this object may change it.",
        two_factor_required="The organization requires two-factor authentication first.",
    ),
    _codes(
        404,
        not_found="Unknown object, or not visible to the caller.",
        tenant_not_found="No organization at this host.",
    ),
    _codes(405, method_not_allowed="The method is not allowed on this path."),
    _codes(406, not_acceptable="No representation matches the Accept header."),
    _codes(409, conflict="Conflicts with the current state."),
    _codes(413, payload_too_large="The body is over the size limit (`max_bytes`)."),
    _codes(415, unsupported_media_type="The body's content type is not accepted."),
    _codes(429, throttled="Too many requests (`retry_after_seconds`)."),
    _codes(500, server_error="A bug: reported to the operators."),
    # --- identity, signup, two-factor (iam, organizations) -----------------------------
    _codes(
        400,
        slug_invalid="The subdomain has characters that are not allowed.",
        slug_length="The subdomain is too short or too long.",
        slug_reserved="The subdomain is reserved.",
        slug_taken="The subdomain is taken.",
        email_taken="An account with this email exists.",
        invalid_email="Not an email address.",
        otp_invalid="The two-factor code is not valid.",
        otp_required="A two-factor code is needed.",
        invalid_token="The two-factor code is not valid (admin console).",
        not_set_up="Two-factor is not set up for this account (admin console).",
        two_factor_not_set_up="Two-factor is not set up.",
        invitation_invalid="The invitation token is unknown, used or expired.",
        invitation_expired="The invitation has expired.",
        invitation_email_mismatch="The invitation was sent to another email address.",
    ),
    _codes(
        403,
        not_staff="Two-factor enrolment by an operator is for staff accounts.",
        staff_enrolment_needs_operator_code="Staff enrol with the operator's code.",
    ),
    _codes(
        409,
        two_factor_already_enabled="Two-factor is already on.",
        two_factor_required_for_actor="Turn on two-factor before requiring it for everybody.",
        already_member="The person is already a member.",
        member_exists="The person is already a member.",
        invitation_pending="An invitation to this address is pending.",
        invitation_not_pending="The invitation is no longer pending.",
        last_owner="The last owner cannot leave, be removed or demoted.",
        already_suspended="The organization is already suspended.",
        not_suspended="The organization is not suspended.",
        not_suspendable="The organization cannot be suspended in its state.",
        currency_in_use="The currency cannot change once money is recorded in it.",
        suspended_by_billing="Billing suspended the organization: it resumes when paid.",
    ),
    _codes(429, login_locked="Too many failed sign-ins: locked for a while."),
    # --- projects, clients, tasks --------------------------------------------------------
    _codes(
        400,
        not_an_organization_member="The user is not an active member of the organization.",
        user_cannot_see_project="The user may not see the project.",
        task_project_mismatch="The task belongs to another project.",
        parent_other_project="The parent task belongs to another project.",
        dependency_self="A task cannot depend on itself.",
        project_archived="The project is archived: read-only.",
        label_name_taken="A label with this name exists.",
    ),
    _codes(
        403,
        not_task_participant="Members change only tasks they reported or are assigned to.",
        not_task_reporter="Members delete or restore only tasks they reported.",
    ),
    _codes(
        409,
        client_deleted="The client is deleted.",
        client_in_use="The client still has projects.",
        name_taken="The name is taken.",
        dependency_cycle="The dependency would make a cycle.",
        dependency_exists="The dependency exists already.",
        parent_cycle="The parent would make a cycle.",
        blockers_open="The task is blocked by open tasks.",
        task_not_deleted="The task is not deleted.",
        parent_deleted="The parent task is deleted: restore it first.",
    ),
    # --- time entries, timer, idle, imports -------------------------------------------
    _codes(
        400,
        end_before_start="The end is before the start.",
        entry_in_future="The entry lies in the future.",
        entry_too_long="The entry is longer than allowed.",
        entry_running="A running entry cannot be used here.",
        too_many_tags="More than 20 tags.",
        tag_too_long="A tag over 60 characters.",
        import_empty="The import file has no entries.",
        import_invalid="Rows of the import file are not valid.",
        import_too_large="The import file is too large.",
        import_bad_encoding="The import file is not UTF-8 text.",
        import_malformed="The import file is not valid CSV.",
        import_too_many_rows="The import file has too many rows.",
        import_unknown_layout="The import file is not a known export (`missing_columns`).",
        cannot_restart="A finished entry cannot run again (use continue).",
    ),
    _codes(
        409,
        entry_locked="The entry is in a submitted or approved timesheet.",
        entry_overlap="The entry overlaps another entry of the same person.",
        timer_already_running="A timer is already running.",
        no_running_timer="No timer is running.",
        idle_already_resolved="The idle period was already resolved.",
        import_conflict="The import conflicts with existing entries.",
    ),
    # --- timesheets ---------------------------------------------------------------------
    _codes(
        400,
        period_not_aligned="The period does not start where the organization's periods start.",
        comment_required="A comment is required.",
        reason_required="A reason is required.",
    ),
    _codes(
        403,
        self_approval="Approving one's own timesheet is not allowed.",
        not_sheet_approver="The caller does not approve this member's timesheets.",
        not_sheet_owner="Only the timesheet's owner may do this.",
    ),
    _codes(
        409,
        invalid_transition="The timesheet's state does not allow this.",
        timer_running="A timer is running in the period.",
        period_overlaps="The period overlaps an existing timesheet.",
        timesheet_locked="The timesheet is locked.",
    ),
    # --- chat ---------------------------------------------------------------------------
    _codes(
        400,
        invalid_kind="Not a channel kind that can be created here.",
        user_cannot_see_channel="The user may not see the channel.",
        invalid_parent="The parent message is a reply: threads are one level deep.",
    ),
    _codes(
        409,
        channel_name_taken="A channel with this name exists.",
        channel_members_fixed="This channel's members cannot change.",
        direct_channel="Direct conversations cannot be changed this way.",
        project_channel_exists="The project already has a channel.",
    ),
    # --- billing ------------------------------------------------------------------------
    _codes(
        400,
        unknown_plan="No such plan.",
        plan_not_purchasable="The plan cannot be bought.",
        invalid_payload="The webhook payload is not a valid event.",
        invalid_signature="The webhook signature is not valid.",
        not_billable="The organization cannot be billed.",
    ),
    _codes(
        402,
        payment_required="The subscription is not active.",
        organization_inactive="The organization is suspended or cancelled: read-only.",
        subscription_inactive="Billing made the organization read-only until it is paid.",
        plan_limit_reached="The plan's limit is reached.",
        feature_not_in_plan="The plan does not include this feature.",
    ),
    _codes(
        409,
        subscription_exists="The organization already has a subscription.",
        no_billing_account="The organization has no billing account yet.",
    ),
    _codes(502, stripe_error="Stripe did not answer as expected."),
    _codes(503, billing_not_configured="Billing is not configured on this server."),
    # --- realtime -----------------------------------------------------------------------
    _codes(
        503,
        realtime_unavailable="The realtime service is unavailable.",
        presence_unavailable="Presence is unavailable.",
    ),
    # --- operator CLI (tenants) ---------------------------------------------------------
    _codes(
        400,
        invalid_archive="Not a NovaTime tenant archive.",
        checksum_mismatch="The archive's checksum does not match.",
        migration_mismatch="The archive was made at other migrations.",
        pg_dump_failed="pg_dump failed.",
        pg_dump_missing="pg_dump is not installed.",
        pool_empty="The tenant pool is empty.",
        protected="The template and public schemas cannot be deleted.",
    ),
)


def status_of(code: str) -> int:
    """The HTTP status a code is answered with (KeyError for an unknown code,
    so a typo in documentation fails the schema build)."""
    return ERROR_CODES[code].status


README = Path(__file__).with_name("README.md")
_START, _END = "<!-- error-codes:start -->", "<!-- error-codes:end -->"


def markdown_table() -> str:
    """The catalogue as the Markdown table kept in apps/common/README.md."""
    rows = ["| code | status | meaning |", "|---|---|---|"]
    for code, (status, meaning) in sorted(ERROR_CODES.items(), key=lambda i: (i[1][0], i[0])):
        rows.append(f"| `{code}` | {status} | {meaning} |")
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    """``text`` with the generated table between the markers."""
    head, rest = text.split(_START, 1)
    _, tail = rest.split(_END, 1)
    return f"{head}{_START}\n{markdown_table()}\n{_END}{tail}"


if __name__ == "__main__":  # python -m apps.common.error_codes --write
    updated = readme_with_table(README.read_text(encoding="utf-8"))
    if "--write" in sys.argv:
        README.write_text(updated, encoding="utf-8")
    else:
        sys.stdout.write(markdown_table() + "\n")
