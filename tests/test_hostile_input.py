"""Hostile input answered with a 4xx in the shared error shape, never a 500.

One test per class of input from issue #18 (section 3), each through the
real middleware, parsers, paginators and views; the walk over both hosts'
OpenAPI schemas (tests/fuzz/) then shows the class is closed everywhere.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe
from django.db import connection
from django_tenants.utils import tenant_context

from apps.billing.models import WebhookEvent
from apps.billing.tests.fake_stripe import WEBHOOK_SECRET, signed_event
from apps.organizations.tests.factories import client_as
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


def _no_raise(client: TenantAPIClient) -> TenantAPIClient:
    """A 500 comes back as a response (as a real server answers it) instead
    of the view's exception being re-raised in the test."""
    client.raise_request_exception = False
    return client


@pytest.fixture
def owner(tenant: Any) -> TenantAPIClient:
    return _no_raise(client_as(tenant, "owner"))


@pytest.fixture
def anonymous_public() -> TenantAPIClient:
    return _no_raise(TenantAPIClient(None))


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The body of a 4xx in the shared shape, with this status and code."""
    body = json.loads(response.content)
    assert response.status_code == status, (response.status_code, body)
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return dict(body)


# --- deeply nested JSON -----------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_on_an_organization_endpoint_is_400(owner, tenant, body):
    response = owner.post("/api/v1/projects/", body, content_type="application/json")
    error(response, 400, "json_too_deep")
    with tenant_context(tenant):
        from apps.projects.models import Project

        assert not Project.all_objects.exists()


def test_deep_json_on_login_is_400(anonymous_public):
    response = anonymous_public.post("/api/v1/auth/login/", DEEP, content_type="application/json")
    error(response, 400, "json_too_deep")


def test_json_at_the_depth_limit_passes_the_parser():
    from apps.common import parsers

    at_limit = "[" * parsers.MAX_JSON_DEPTH + "]" * parsers.MAX_JSON_DEPTH
    assert parsers.json_loads(at_limit) is not None
    with pytest.raises(parsers.InputError) as caught:
        parsers.json_loads("[" + at_limit + "]")
    assert caught.value.detail.code == "json_too_deep"


# --- NUL and lone surrogates --------------------------------------------------------------


@pytest.mark.parametrize("text", ["\\u0000", "\\ud800"], ids=["nul", "lone-surrogate"])
def test_nul_in_automation_rule_params_is_400_and_nothing_stored(owner, tenant, text):
    body = (
        '{"name": "Tag", "kind": "auto_tag_by_keyword", '
        f'"params": {{"keyword": "a{text}b", "tag": "x"}}}}'
    )
    response = owner.post("/api/v1/ai/rules/", body, content_type="application/json")
    error(response, 400, "invalid_characters")
    with tenant_context(tenant):
        from apps.ai_services.models import AutomationRule

        assert not AutomationRule.objects.exists()


def test_nul_in_a_json_object_key_is_400(owner):
    response = owner.post(
        "/api/v1/projects/", '{"na\\u0000me": "x"}', content_type="application/json"
    )
    error(response, 400, "invalid_characters")


def test_nul_in_a_query_parameter_is_400(owner):
    error(owner.get("/api/v1/tasks/?search=a%00b"), 400, "invalid_characters")
    error(owner.get("/api/v1/tasks/?a%00b=1"), 400, "invalid_characters")


def test_nul_in_a_path_parameter_is_400(owner, tenant):
    """``%00`` in a reaction's emoji reached a text column (found by the walk)."""
    from apps.chat.tests.factories import ChannelMemberFactory, MessageFactory

    with tenant_context(tenant):
        channel = ChannelMemberFactory(user_id=owner.user.pk).channel
        message = MessageFactory(channel=channel, author_id=owner.user.pk)
    response = owner.delete(f"/api/v1/chat/messages/{message.pk}/reactions/a%00b/")
    error(response, 400, "invalid_characters")


def test_nul_in_a_form_body_is_400(anonymous_public):
    response = anonymous_public.post(
        "/api/v1/auth/login/",
        "email=a%00b%40x.test&password=x",
        content_type="application/x-www-form-urlencoded",
    )
    error(response, 400, "invalid_characters")


def test_non_finite_numbers_are_400(owner):
    response = owner.post(
        "/api/v1/projects/", '{"name": "x", "hourly_rate": 1e400}', content_type="application/json"
    )
    error(response, 400, "parse_error")


# --- page numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks/",
        "/api/v1/time-entries/",
        "/api/v1/reports/detailed/?from=2026-01-01&to=2026-01-02&",
    ],
)
def test_page_past_bigint_is_400(owner, path):
    sep = "" if path.endswith("&") else "?"
    response = owner.get(f"{path}{sep}page=99999999999999999999")
    body = error(response, 400, "page_out_of_range")
    assert body["fields"] == {"page": ["At most 1000000."]}


def test_page_at_the_limit_is_an_empty_page(owner):
    response = owner.get("/api/v1/tasks/?page=1000000")
    assert response.status_code == 200
    assert response.json()["results"] == []


_LISTS = [
    "/api/v1/tasks/",  # UncountedPagination
    "/api/v1/time-entries/",  # UncountedPagination
    "/api/v1/reports/detailed/?from=2026-01-01&to=2026-01-02&",  # StandardPagination
]


def _page_url(path: str, query: str) -> str:
    return f"{path}{'' if path.endswith('&') else '?'}{query}"


_NOT_ASCII_DIGITS = ["²", "¹²", "\uff11", "٣", "1_0", "+1", "x"]


@pytest.mark.parametrize("page", _NOT_ASCII_DIGITS)
def test_a_page_that_is_not_ascii_digits_is_404_invalid_page(owner, page):
    """``str.isdigit()`` is true for ``²`` while ``int()`` refuses it (a
    500); ``int()`` reads ``\\uff11`` and ``1_0``. Only ASCII digits are a
    page; otherwise DRF's answer (StandardPagination)."""
    response = owner.get(_page_url(_LISTS[2], f"page={page}"))
    body = error(response, 404, "not_found")
    assert body["message"] == "Invalid page."


@pytest.mark.parametrize("page", _NOT_ASCII_DIGITS)
@pytest.mark.parametrize("path", _LISTS[:2])
def test_a_page_that_is_not_ascii_digits_is_the_first_on_uncounted_lists(owner, path, page):
    """UncountedPagination's answer to a page that is not a number (a 500
    for ``²``)."""
    response = owner.get(_page_url(path, f"page={page}"))
    assert response.status_code == 200, response.content
    assert response.json()["previous"] is None


@pytest.mark.parametrize("path", _LISTS)
def test_leading_zeros_are_the_page_they_spell(owner, path):
    response = owner.get(_page_url(path, "page=0000000000001"))
    assert response.status_code == 200, response.content
    assert response.json()["previous"] is None


def test_a_page_of_thousands_of_digits_is_400_page_out_of_range(owner):
    # int() refuses more than 4,300 digits: the value is judged without it
    response = owner.get("/api/v1/tasks/?page=" + "9" * 5000)
    error(response, 400, "page_out_of_range")


@pytest.mark.parametrize("size", ["²", "\uff11", "9" * 5000])
def test_a_page_size_that_is_not_ascii_digits_is_the_default(owner, size):
    response = owner.get(f"/api/v1/tasks/?page_size={size}")
    assert response.status_code == 200, response.content


# --- dates at the ends of the calendar -------------------------------------------------------

_DATE_CASES = [
    ("get", "/api/v1/time-entries/?to=9999-12-31", "to"),
    ("get", "/api/v1/time-entries/?from=0001-01-01", "from"),
    ("get", "/api/v1/time-entries/?to=9999-12-31T23:59:59%2B00:00", "to"),
    ("get", "/api/v1/reports/summary/?from=9999-12-01&to=9999-12-31", "from"),
    ("get", "/api/v1/reports/detailed/?from=0001-01-01&to=0001-01-31", "from"),
    ("get", "/api/v1/timesheets/?from=9999-12-31", "from"),
    ("get", "/api/v1/timesheets/overview/?period_start=9999-12-27", "period_start"),
    ("get", "/api/v1/tasks/?due_before=9999-12-31", "due_before"),
]


@pytest.mark.parametrize(("method", "path", "field"), _DATE_CASES, ids=[c[1] for c in _DATE_CASES])
def test_dates_outside_the_window_are_400(owner, method, path, field):
    body = error(getattr(owner, method)(path), 400, "date_out_of_range")
    assert field in body["fields"]


# Python takes UTC offsets up to 23:59, PostgreSQL only up to 15:59: an aware
# datetime used to reach psycopg with the offset it was sent with (DataError).
_OFFSETS = ["+16:00", "-23:59", "+23:59"]


@pytest.mark.parametrize("offset", _OFFSETS)
@pytest.mark.parametrize("name", ["from", "to"])
def test_time_entry_datetimes_with_any_offset_python_reads_are_200(owner, name, offset):
    response = owner.get("/api/v1/time-entries/", {name: f"2026-01-01T00:00:00{offset}"})
    assert response.status_code == 200, response.content


def test_a_time_entry_datetime_is_compared_as_its_instant(owner):
    """``+16:00`` is converted, not dropped: 2026-01-01T16:00+16:00 is
    midnight UTC."""
    project = owner.post("/api/v1/projects/", {"name": "Offsets"}, format="json").json()["id"]
    entry = owner.post(
        "/api/v1/time-entries/",
        {
            "project": project,
            "started_at": "2026-01-01T00:00:00Z",
            "ended_at": "2026-01-01T01:00:00Z",
        },
        format="json",
    )
    assert entry.status_code == 201, entry.content
    ids = lambda q: [e["id"] for e in owner.get("/api/v1/time-entries/", q).json()["results"]]  # noqa: E731
    assert ids({"from": "2026-01-01T16:00:00+16:00"}) == [entry.json()["id"]]
    assert ids({"from": "2026-01-01T16:00:01+16:00"}) == []


def test_a_filter_datetime_outside_the_window_is_400_whatever_its_offset(owner):
    response = owner.get("/api/v1/time-entries/", {"to": "9999-12-31T23:59:59-23:59"})
    assert error(response, 400, "date_out_of_range")["fields"].keys() == {"to"}


def test_the_shared_datetime_filter_field_answers_in_utc():
    import datetime

    from django import forms

    from apps.common.dates import DateTimeFormField

    value = DateTimeFormField().clean("2026-01-01T00:00:00+16:00")
    assert value == datetime.datetime(2025, 12, 31, 8, 0, tzinfo=datetime.UTC)
    assert value.utcoffset() == datetime.timedelta(0)
    with pytest.raises(forms.ValidationError) as caught:
        DateTimeFormField().clean("9999-12-31T23:59:59-23:59")
    assert caught.value.code == "date_out_of_range"


@pytest.fixture
def channel_messages(owner) -> str:
    channel = owner.post(
        "/api/v1/chat/channels/", {"name": "hostile", "kind": "public"}, format="json"
    )
    assert channel.status_code == 201, channel.content
    url = f"/api/v1/chat/channels/{channel.json()['id']}/messages/"
    assert owner.post(url, {"body": "hello"}, format="json").status_code == 201
    return url


@pytest.mark.parametrize("offset", _OFFSETS)
def test_chat_since_with_any_offset_python_reads_is_200(owner, channel_messages, offset):
    response = owner.get(channel_messages, {"since": f"2026-01-01T00:00:00{offset}"})
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:00"])
def test_chat_since_outside_the_window_is_400(owner, channel_messages, since):
    body = error(owner.get(channel_messages, {"since": since}), 400, "date_out_of_range")
    assert list(body["fields"]) == ["since"]


@pytest.mark.parametrize(
    "position", ["9999-12-31T23:59:59-23:59", "2026-01-01T00:00:00", "not-a-time"]
)
def test_a_forged_chat_cursor_position_is_404_invalid_cursor(owner, channel_messages, position):
    """The cursor is base64 of a query string whose ``p`` reaches the
    ``created_at`` filter: it is held to the same rule as ``since``."""
    import base64
    from urllib.parse import urlencode

    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    body = error(owner.get(channel_messages, {"cursor": cursor}), 404, "not_found")
    assert body["message"] == "Invalid cursor"


def test_a_forged_chat_cursor_with_a_wide_offset_is_read_as_its_instant(owner, channel_messages):
    import base64
    from urllib.parse import urlencode

    cursor = base64.b64encode(urlencode({"p": "9000-01-01T00:00:00+16:00"}).encode()).decode()
    response = owner.get(channel_messages, {"cursor": cursor})
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1


def test_model_date_columns_get_the_window_too(owner, tenant):
    """ModelSerializer builds the bounded field for a model date column
    (apps.common.apps): nothing is stored."""
    response = owner.post(
        "/api/v1/projects/", {"name": "Far", "start_date": "9999-12-31"}, format="json"
    )
    body = error(response, 400, "date_out_of_range")
    assert list(body["fields"]) == ["start_date"]
    with tenant_context(tenant):
        from apps.projects.models import Project

        assert not Project.all_objects.exists()


def test_ai_summary_with_dates_outside_the_window_is_400(owner):
    response = owner.post(
        "/api/v1/ai/summary/", {"from": "9999-12-01", "to": "9999-12-31"}, format="json"
    )
    error(response, 400, "date_out_of_range")


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_outside_the_window_is_an_error_not_a_cut_200(owner, file_format):
    response = owner.get(
        f"/api/v1/reports/export/?from=9999-12-01&to=9999-12-31&format={file_format}"
    )
    assert not getattr(response, "streaming", False)
    error(response, 400, "date_out_of_range")


def test_the_window_edges_are_accepted(owner):
    from apps.common import dates

    first, last = dates.MIN_DATE.isoformat(), dates.MAX_DATE.isoformat()
    assert owner.get(f"/api/v1/time-entries/?from={first}&to={last}").status_code == 200
    response = owner.get(f"/api/v1/reports/summary/?from={last}&to={last}")
    assert response.status_code == 200, response.content
    response = owner.get(f"/api/v1/reports/export/?from={last}&to={last}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\xef\xbb\xbf")


def test_export_runs_its_query_before_the_status_is_sent(owner, monkeypatch):
    """A failure of the report's SQL is an error answer, not a 200 whose
    body is cut off (the first chunk is produced in the view)."""
    from apps.common.errors import ApplicationError
    from apps.time_entries.reports import exports

    def broken(query: Any) -> Any:
        raise ApplicationError("Refused.", code="refused_for_test")
        yield  # a generator, like the real one

    monkeypatch.setattr(exports, "detailed_rows", broken)
    response = owner.get("/api/v1/reports/export/?from=2026-01-01&to=2026-01-31")
    error(response, 400, "refused_for_test")


# --- too many fields, malformed bodies -------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("host", ["tenant", "public"])
def test_more_than_the_maximum_query_parameters_is_400_json(
    owner, anonymous_public, host, debug, settings
):
    """JSON in the shared shape, also under DEBUG (the dev settings), where
    Django answers a SuspiciousOperation with its HTML error page."""
    settings.DEBUG = debug
    client = owner if host == "tenant" else anonymous_public
    query = "&".join(f"p{i}=1" for i in range(1001))
    body = error(client.get(f"/api/v1/meta/?{query}"), 400, "too_many_fields")
    assert body["max_fields"] == 1000


def test_more_than_the_maximum_form_fields_is_400_json(anonymous_public):
    form = "&".join(f"p{i}=1" for i in range(1001))
    response = anonymous_public.post(
        "/api/v1/auth/login/", form, content_type="application/x-www-form-urlencoded"
    )
    error(response, 400, "too_many_fields")


def test_malformed_multipart_is_400(anonymous_public):
    response = anonymous_public.post(
        "/api/v1/auth/login/",
        b"--x\r\nContent-Disposition: form-data; name=\r\n\r\nbroken",
        content_type="multipart/form-data; boundary=",
    )
    assert response.status_code == 400
    assert json.loads(response.content)["code"]


def test_json_not_in_utf8_is_400(owner):
    response = owner.post(
        "/api/v1/projects/", '{"name": "\xe9"}'.encode("latin-1"), content_type="application/json"
    )
    error(response, 400, "parse_error")


# --- Stripe webhook ---------------------------------------------------------------------------


def _post_signed(client: TenantAPIClient, body: str) -> Any:
    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    return client.post(
        "/webhooks/stripe/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


@pytest.fixture
def stripe_webhooks(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_novatime"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def _event(**fields: Any) -> str:
    raw, _ = signed_event("invoice.paid", {"id": "in_1"})
    event = json.loads(raw)
    event.update(fields)
    return json.dumps(event)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_event(data="DEEP").replace('"DEEP"', DEEP), id="deep"),
        pytest.param(_event(id="evt_" + "x" * 300), id="long-id"),
        pytest.param(_event(id="evt_a\u0000b"), id="nul-id"),
        pytest.param(_event(data={"object": {"id": "in_\u0000"}}), id="nul-in-data"),
        pytest.param(_event(type="t" * 101), id="long-type"),
        pytest.param(_event(created=10**20), id="created-overflow"),
        pytest.param(_event(created="soon"), id="created-text"),
        pytest.param(_event(id="evt_\ud800"), id="lone-surrogate"),
    ],
)
def test_signed_unusable_webhook_is_400_invalid_payload(anonymous_public, stripe_webhooks, body):
    response = _post_signed(anonymous_public, body)
    error(response, 400, "invalid_payload")
    assert not WebhookEvent.objects.exists()


def test_unsigned_deep_webhook_is_400(anonymous_public, stripe_webhooks):
    response = anonymous_public.post(
        "/webhooks/stripe/", DEEP, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1"
    )
    error(response, 400, "invalid_signature")


def test_a_usable_signed_webhook_is_still_stored(anonymous_public, stripe_webhooks):
    response = _post_signed(anonymous_public, _event(id="evt_ok_1"))
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.filter(stripe_event_id="evt_ok_1").exists()
    assert connection.schema_name == "public"
