"""POST /api/v1/ai/summary/: the local summarizer, who may ask for whom, and
the optional OpenAI-compatible provider (a real local HTTP server speaking
the protocol, and respx for failure modes) with fallback to local."""

from __future__ import annotations

import datetime
import json
import threading
import zoneinfo
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import respx

from apps.common.testing import expect

from .factories import ProjectFactory, TaskFactory, client_as, entry_at, member_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai/summary/"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
PERIOD = {"from": "2026-11-16", "to": "2026-11-22"}


@pytest.fixture
def org(in_tenant):
    in_tenant.timezone = "Europe/Berlin"
    in_tenant.currency = "EUR"
    in_tenant.ai_external_llm_enabled = False
    # Members see the amounts of their own time (the money rule is tested in
    # test_money_visibility.py; the texts below include Ada's amount).
    in_tenant.members_see_rates = True
    in_tenant.save()
    return in_tenant


@pytest.fixture
def week(org):
    """Ada: 3 h Website (login task, billable 100/h) on Mon, 2 h Support
    (non-billable) on Tue; an entry outside the period; Bob: 1 h Website."""
    ada = member_of(org, user__first_name="Ada", user__last_name="Lovelace")
    bob = member_of(org, user__first_name="Bob", user__last_name="Smith")
    website = ProjectFactory(name="Website")
    support = ProjectFactory(name="Support", billable=False)
    login = TaskFactory(project=website, title="Login page")

    def at(day, hour):
        return datetime.datetime(2026, 11, day, hour, tzinfo=BERLIN)

    entry_at(
        ada.user_id,
        website,
        at(16, 9),
        3 * 3600,
        task=login,
        description="fix login",
        tags=["bug"],
        amount=Decimal("300.00"),
    )
    entry_at(ada.user_id, support, at(17, 9), 2 * 3600, description="tickets", billable=False)
    entry_at(ada.user_id, website, at(23, 9), 3600, description="outside the period")
    # 00:30 on the 16th in Berlin is the 15th in UTC: inside the period.
    entry_at(bob.user_id, website, at(16, 0).replace(minute=30), 3600, description="deploy")
    return {"ada": ada, "bob": bob}


EXPECTED_ADA = (
    "You tracked 5.0 h from 2026-11-16 to 2026-11-22 in 2 entries over 2 days "
    "(2.5 h per day worked). 3.0 h (60%) was billable, worth 300.00 EUR. "
    "Most time went to Website (3.0 h, 60%), Support (2.0 h, 40%). "
    "Top tasks: Login page (3.0 h). "
    "Main activities: “fix login”; “tickets”. "
    "Frequent tags: #bug. "
    "The busiest day was Monday 16 November with 3.0 h."
)


def test_local_summary_of_my_week(week, org):
    body = expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)
    assert body["provider"] == "local"
    assert body["text"] == EXPECTED_ADA
    assert body["facts"]["total_seconds"] == 5 * 3600


def test_local_summary_is_deterministic(week, org):
    client = client_as(org, week["ada"])
    assert (
        expect(client.post(URL, PERIOD), 200)["text"]
        == expect(client.post(URL, PERIOD), 200)["text"]
    )


def test_team_summary_lists_people(week, org):
    body = expect(client_as(org, "manager").post(URL, {**PERIOD, "team": True}), 200)
    assert body["text"].startswith("The team tracked 6.0 h")
    assert "By person: Ada Lovelace 5.0 h, Bob Smith 1.0 h." in body["text"]


def test_manager_may_summarize_one_member(week, org):
    body = expect(
        client_as(org, "manager").post(URL, {**PERIOD, "user": str(week["bob"].user_id)}), 200
    )
    assert body["text"].startswith("Bob Smith tracked 1.0 h")


def test_nothing_tracked(org):
    body = expect(client_as(org, "member").post(URL, PERIOD), 200)
    assert body["text"] == "You tracked no time from 2026-11-16 to 2026-11-22."


def test_members_may_not_summarize_others(week, org):
    client = client_as(org, week["ada"])
    expect(client.post(URL, {**PERIOD, "user": str(week["bob"].user_id)}), 403, "role_required")
    expect(client.post(URL, {**PERIOD, "team": True}), 403, "role_required")
    # Asking for oneself by id is fine.
    expect(client.post(URL, {**PERIOD, "user": str(week["ada"].user_id)}), 200)


def test_other_organizations_users_are_unknown(org, other_tenant):
    from apps.organizations.tests.factories import MembershipFactory

    stranger = MembershipFactory(organization=other_tenant)
    body = expect(
        client_as(org, "manager").post(URL, {**PERIOD, "user": str(stranger.user_id)}),
        400,
        "does_not_exist",
    )
    assert "user" in body["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": "2026-11-22"}, "from"),
        ({"from": "2026-11-22", "to": "2026-11-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-11-01"}, "to"),
        ({"from": "nope", "to": "2026-11-01"}, "from"),
        ({**PERIOD, "team": True, "user": "8b1f7c4e-9a43-4c1e-9d6f-0c2d5f1e2a3b"}, "team"),
    ],
)
def test_bad_input_is_400(org, payload, field):
    body = expect(client_as(org, "manager").post(URL, payload, format="json"), 400, "invalid")
    assert field in body["fields"]


# --- the external provider ------------------------------------------------------------


class ChatServer:
    """A tiny OpenAI-compatible ``/v1/chat/completions`` server in a thread."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                server.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status, payload = server.replies.pop(0) if server.replies else (500, {})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(text):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
    }


@pytest.fixture
def llm_settings(settings):
    settings.LLM_API_KEY = "sk-test"
    settings.LLM_MODEL = "tiny-model"
    settings.LLM_TIMEOUT_SECONDS = 2.0
    settings.NOVATIME_LLM_RETRY_BACKOFF = 0.01
    return settings


def test_llm_writes_the_summary_when_enabled(week, org, llm_settings):
    org.ai_external_llm_enabled = True
    org.save()
    with ChatServer([(503, {}), (200, _completion("Ada focused on Website."))]) as server:
        llm_settings.LLM_BASE_URL = server.url
        body = expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)

    assert body == {**body, "provider": "llm", "text": "Ada focused on Website."}
    assert len(server.requests) == 2  # one retry after the 503
    request = server.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny-model"
    sent = json.dumps(request["body"])
    assert "Website" in sent and "fix login" in sent
    assert "@" not in sent  # no e-mail address leaves


def test_an_unnamed_members_email_never_reaches_the_provider(org, llm_settings):
    org.ai_external_llm_enabled = True
    org.save()
    plain = member_of(org)  # no first/last name: shown by e-mail locally
    entry_at(plain.user_id, ProjectFactory(), datetime.datetime(2026, 11, 17, 9, tzinfo=BERLIN))
    with ChatServer([(200, _completion("A member worked 1 h."))]) as server:
        llm_settings.LLM_BASE_URL = server.url
        body = expect(
            client_as(org, "manager").post(URL, {**PERIOD, "user": str(plain.user_id)}), 200
        )
    assert body["provider"] == "llm"
    assert "@" not in json.dumps(server.requests[0]["body"])


def test_no_data_leaves_unless_the_organization_enabled_it(week, org, llm_settings):
    with ChatServer([(200, _completion("should not be used"))]) as server:
        llm_settings.LLM_BASE_URL = server.url
        body = expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)
    assert body["provider"] == "local" and body["text"] == EXPECTED_ADA
    assert server.requests == []


@respx.mock
@pytest.mark.parametrize(
    ("responses", "calls"),
    [
        ([httpx.ConnectTimeout("slow")] * 3, 3),
        ([httpx.Response(500)] * 3, 3),
        ([httpx.Response(401, json={"error": "bad key"})], 1),  # not retried
        ([httpx.Response(200, json={"choices": []})], 1),  # malformed
        ([httpx.Response(200, json=_completion("   "))], 1),  # empty
    ],
)
def test_provider_failures_fall_back_to_local(week, org, llm_settings, responses, calls):
    org.ai_external_llm_enabled = True
    org.save()
    llm_settings.LLM_BASE_URL = "https://llm.example.test/v1"
    route = respx.post("https://llm.example.test/v1/chat/completions").mock(side_effect=responses)

    body = expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)

    assert body["provider"] == "local"
    assert body["text"] == EXPECTED_ADA
    assert body["fallback_reason"]
    assert route.call_count == calls


# --- money: visibility and currencies ------------------------------------------------


def test_a_member_is_told_no_amount_when_rates_are_hidden(week, org, llm_settings):
    """Issue #18: the summary said "worth 300.00 EUR" to a member of an
    organization that hides rates from members; neither the text, the facts
    nor the provider's prompt may carry it."""
    org.members_see_rates = False
    org.save()
    body = expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)
    assert body["text"] == EXPECTED_ADA.replace(", worth 300.00 EUR.", ".")
    facts = body["facts"]
    assert (facts["billable_amount"], facts["billable_amounts"], facts["currency"]) == (
        None,
        None,
        None,
    )
    org.ai_external_llm_enabled = True
    org.save()
    with ChatServer([(200, _completion("Ada worked."))]) as server:
        llm_settings.LLM_BASE_URL = server.url
        expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)
    sent = json.dumps(server.requests[0]["body"])
    assert "300" not in sent and "EUR" not in sent


def test_amounts_in_two_currencies_are_not_added(week, org):
    """A USD client's project next to EUR ones: one amount per currency."""
    from apps.projects.models import Client

    acme_us = Client.objects.create(name="Acme US", currency="USD")
    usd = ProjectFactory(name="Import", client=acme_us)
    entry_at(
        week["ada"].user_id,
        usd,
        datetime.datetime(2026, 11, 18, 9, tzinfo=BERLIN),
        3600,
        amount=Decimal("120.00"),
    )
    body = expect(client_as(org, week["ada"]).post(URL, PERIOD), 200)
    facts = body["facts"]
    assert facts["billable_amounts"] == [
        {"currency": "EUR", "amount": "300.00"},
        {"currency": "USD", "amount": "120.00"},
    ]
    assert facts["billable_amount"] is None and facts["currency"] is None
    assert "worth 300.00 EUR and 120.00 USD." in body["text"]
    assert "420" not in body["text"]
