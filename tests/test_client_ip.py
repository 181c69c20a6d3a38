"""Client-supplied X-Forwarded-For is believed only from trusted proxies.

One function (``config.client_ip.client_ip``) gives every per-address
decision its address: the DRF throttles (signup, login and every other scope,
anonymous and per-user rates), the login lockout, allauth's rate limits and the
``/metrics`` allow-list. Each is tested against a spoofed header from a peer
that is not a trusted proxy (ignored) and from one that is (the rightmost
untrusted hop counts). The web server in front is given the same list
(deploy/gunicorn.conf.py → uvicorn), and both agree on the address.
"""

from __future__ import annotations

import importlib.util
import json
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest
from django.test import RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from apps.common.throttling import ClientIpMixin
from config.client_ip import (
    address_key,
    client_ip,
    client_ip_key,
    parse_trusted_proxies,
    server_forwarded_allow_ips,
)
from tenants.testing import manage_env

ROOT = Path(__file__).resolve().parent.parent
ATTACKER = "1.2.3.4"  # a public address, talking to the application directly
SPOOF = "10.9.8.7"  # the address it claims in X-Forwarded-For
PROXY_NET = "192.0.2.0/24"  # the ingress, when trusted
PROXY = "192.0.2.10"
CLIENT = "198.51.100.7"  # a client behind the ingress
OTHER_CLIENT = "198.51.100.8"


def _request(remote_addr: str, forwarded_for: str | None = None) -> HttpRequest:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote_addr, **extra)


# --- the function ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "remote_addr", "forwarded_for", "expected"),
    [
        # Trust nobody (the default): the peer, whatever the header says.
        ([], ATTACKER, SPOOF, ATTACKER),
        ([], ATTACKER, f"{SPOOF}, {PROXY}", ATTACKER),
        ([], PROXY, CLIENT, PROXY),
        # A peer outside the list cannot borrow the proxy's trust by naming it.
        ([PROXY_NET], ATTACKER, f"{SPOOF}, {PROXY}", ATTACKER),
        # From the trusted proxy: the rightmost hop it did not write itself.
        ([PROXY_NET], PROXY, CLIENT, CLIENT),
        ([PROXY_NET], PROXY, f"{SPOOF}, {CLIENT}", CLIENT),
        ([PROXY_NET], PROXY, f"{SPOOF}, {CLIENT}, 192.0.2.11", CLIENT),  # two proxies
        # Every hop trusted: the one the nearest proxy wrote, never the leftmost
        # (which a client writes in front of a trusted non-proxy's hop).
        ([PROXY_NET], PROXY, "192.0.2.20, 192.0.2.11", "192.0.2.11"),
        (["10.0.0.0/8"], "10.0.0.5", "10.1.2.3, 10.240.0.4", "10.240.0.4"),
        ([PROXY_NET], PROXY, "", PROXY),  # the proxy's own request
        # A hop that is no address stops the walk: the client is unknown, and
        # nothing to its left (client-written) is believed.
        ([PROXY_NET], PROXY, "not-an-address", ""),
        (["10.0.0.0/8"], "10.0.0.5", "203.0.113.9, unknown", ""),
        ([PROXY_NET], PROXY, f"{CLIENT}, ", ""),
        ([PROXY_NET], PROXY, f"{CLIENT}, for=192.0.2.11", ""),
        ([PROXY_NET], PROXY, f"{CLIENT}, 192.0.2.11:99999", ""),
        ([PROXY_NET], PROXY, f"{SPOOF}, junk, 192.0.2.11", ""),
        ([PROXY_NET], PROXY, f"junk, {CLIENT}", CLIENT),  # left of the client: never read
        ([PROXY_NET], PROXY, f"{CLIENT}:51234", CLIENT),
        ([PROXY_NET, "2001:db8:1::/48"], "2001:db8:1::5", "[2001:db8::7]:443", "2001:db8::7"),
        ([PROXY_NET], f"::ffff:{PROXY}", CLIENT, CLIENT),  # IPv4-mapped peer
        ([PROXY], PROXY, CLIENT, CLIENT),  # a single address
        ([PROXY_NET], "", CLIENT, ""),  # no peer address (Unix socket)
    ],
)
def test_client_ip(trusted, remote_addr, forwarded_for, expected):
    with override_settings(NOVATIME_TRUSTED_PROXIES=trusted):
        assert client_ip(_request(remote_addr, forwarded_for)) == expected


@pytest.mark.parametrize(
    "entry", ["nope", "10.0.0.5/8", "192.0.2.0/33", "*", "SET-ME-ingress-controller-pod-cidr"]
)
def test_a_bad_trusted_proxy_entry_is_refused(entry):
    with pytest.raises(ValueError, match="NOVATIME_TRUSTED_PROXIES"):
        parse_trusted_proxies(f"{PROXY_NET}, {entry}")


def test_a_bad_trusted_proxy_entry_stops_the_process():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=manage_env(NOVATIME_TRUSTED_PROXIES="10.0.0.0/8,*"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "NOVATIME_TRUSTED_PROXIES: '*'" in result.stderr


@pytest.mark.parametrize(
    "module", ["config.settings.dev", "config.settings.test", "config.settings.production"]
)
def test_every_settings_module_counts_per_client_ip_and_trusts_nobody_by_default(module):
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.NOVATIME_TRUSTED_PROXIES, "
        "s.REST_FRAMEWORK['DEFAULT_THROTTLE_CLASSES'], s.ACCOUNT_ADAPTER, "
        "s.REST_FRAMEWORK.get('NUM_PROXIES')]))"
    )
    env = {"DJANGO_SETTINGS_MODULE": module, "NOVATIME_TRUSTED_PROXIES": ""}
    if module.endswith("production"):
        env |= {"SECRET_KEY": "x" * 50, "SENTRY_DSN": ""}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=manage_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trusted, throttles, adapter, num_proxies = json.loads(result.stdout.splitlines()[-1])
    assert trusted == []
    assert throttles and all(path.startswith("apps.common.throttling.") for path in throttles)
    assert adapter == "apps.iam.adapters.AccountAdapter"
    assert num_proxies is None


def _views() -> list[tuple[str, Any]]:
    """Every DRF view class behind both URLconfs."""
    from django.conf import settings

    found = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if view is not None and issubclass(view, APIView):
                    found.append((prefix + str(pattern.pattern), view))

    for urlconf in (settings.ROOT_URLCONF, settings.PUBLIC_SCHEMA_URLCONF):
        walk(get_resolver(urlconf).url_patterns, "/")
    return found


def test_every_view_throttles_by_the_one_client_address():
    """No view brings back DRF's own get_ident (which believes anyone's
    X-Forwarded-For), in the test settings and with production's classes."""
    views = _views()
    assert len(views) > 50
    wrong = [
        (path, throttle.__name__)
        for path, view in views
        for throttle in view.throttle_classes
        if issubclass(throttle, SimpleRateThrottle) and not issubclass(throttle, ClientIpMixin)
    ]
    assert wrong == []


# --- every per-address limit, spoofed ------------------------------------------------

Send = Callable[..., int]


def _exhausted_then_spoofed(send: Send, limit: int, refused: int = 429) -> None:
    """``limit`` requests from one address pass, the next is refused, and
    claiming another address in X-Forwarded-For changes nothing."""
    for _ in range(limit):
        assert send(REMOTE_ADDR=ATTACKER) != refused
    assert send(REMOTE_ADDR=ATTACKER) == refused
    assert send(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=SPOOF) == refused
    assert send(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"{SPOOF}, {PROXY}") == refused


def _behind_the_proxy(send: Send, limit: int, refused: int = 429) -> None:
    """From the trusted proxy, each forwarded client has its own budget, and
    what a client writes to the left of its own hop is ignored."""
    for _ in range(limit):
        assert send(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT) != refused
    assert send(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT) == refused
    assert send(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{SPOOF}, {CLIENT}") == refused
    assert send(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=OTHER_CLIENT) != refused


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small rates, patched where DRF reads them (a class attribute bound at import)."""
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {**SimpleRateThrottle.THROTTLE_RATES, "signup": "2/hour", "login": "2/min"}
        | {"anon": "2/min"},
    )


def _signup(public_client: Any) -> Send:
    def send(**meta: str) -> int:
        # An invalid body: the throttle counts the request before the view runs.
        return public_client.post("/api/v1/signup/", {}, format="json", **meta).status_code

    return send


def _login(public_client: Any) -> Send:
    def send(**meta: str) -> int:
        body = {"email": "nobody@example.com", "password": "wrong"}
        return public_client.post("/api/v1/auth/login/", body, format="json", **meta).status_code

    return send


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [_signup, _login], ids=["signup", "login"])
def test_scoped_throttle_ignores_a_spoofed_forwarded_for(public_client, rates, endpoint):
    _exhausted_then_spoofed(endpoint(public_client), limit=2)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [_signup, _login], ids=["signup", "login"])
def test_scoped_throttle_counts_the_client_behind_a_trusted_proxy(public_client, rates, endpoint):
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        _behind_the_proxy(endpoint(public_client), limit=2)


@pytest.mark.django_db
def test_a_client_cannot_pick_a_trusted_address_in_front_of_a_trusted_hop(public_client, rates):
    """Ingress trusting all of 10.0.0.0/8 behind a LoadBalancer that forwards
    through a node (10.240.0.4, inside the range): a client writing a fresh
    10.x address each time in front of the node's hop gets no fresh budget."""
    send = _signup(public_client)
    with override_settings(NOVATIME_TRUSTED_PROXIES=["10.0.0.0/8"]):
        statuses = [
            send(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=f"10.9.{n}.7, 10.240.0.4")
            for n in range(3)
        ]
    assert statuses[:2] != [429, 429]
    assert statuses[2] == 429


@pytest.mark.django_db
def test_the_client_address_is_computed_once_per_request(public_client, rates, monkeypatch):
    """An anonymous failed login behind the trusted proxy asks for the address
    in every throttle (production's anon, user and scoped login) and twice in
    the lockout: one walk of the header, not one per question."""
    import config.client_ip as module
    from apps.common.throttling import (
        AnonRateThrottle,
        ScopedRateThrottle,
        UserRateThrottle,
    )

    monkeypatch.setattr(
        APIView, "throttle_classes", [AnonRateThrottle, UserRateThrottle, ScopedRateThrottle]
    )
    rates_now = {**SimpleRateThrottle.THROTTLE_RATES, "user": "100/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates_now)
    computed: list[tuple[str, ...]] = []
    networks = module._networks

    def counting(entries: tuple[str, ...]) -> Any:
        computed.append(entries)
        return networks(entries)

    monkeypatch.setattr(module, "_networks", counting)
    body = {"email": "nobody@example.com", "password": "wrong"}
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        response = public_client.post(
            "/api/v1/auth/login/",
            body,
            format="json",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"{SPOOF}, {CLIENT}",
        )
        assert response.status_code == 400
        assert len(computed) == 1
        # The next request walks again (nothing shared between requests).
        public_client.post("/api/v1/auth/login/", body, format="json", REMOTE_ADDR=PROXY)
        assert len(computed) == 2


def test_the_cached_address_follows_the_setting_and_the_headers():
    """Cached on the request, keyed by what the answer depends on: a setting
    changed after a first answer (as tests do) is not answered from the cache."""
    request = _request(PROXY, f"{SPOOF}, {CLIENT}")
    assert client_ip(request) == PROXY  # trust nobody
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        assert client_ip(request) == CLIENT
        request.META["HTTP_X_FORWARDED_FOR"] = OTHER_CLIENT
        assert client_ip(request) == OTHER_CLIENT
    assert client_ip(request) == PROXY


@pytest.mark.django_db
def test_anonymous_rate_of_production_ignores_a_spoofed_forwarded_for(
    public_client, rates, monkeypatch
):
    from apps.common.throttling import AnonRateThrottle

    monkeypatch.setattr(APIView, "throttle_classes", [AnonRateThrottle])

    def send(**meta: str) -> int:
        return public_client.get("/api/v1/meta/", **meta).status_code

    _exhausted_then_spoofed(send, limit=2)
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        _behind_the_proxy(send, limit=2)


@pytest.fixture
def lockout(settings: Any) -> None:
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 100, "IP_FAILURES": 2, "SECONDS": 600}


def _login_as_someone_new(public_client: Any) -> Send:
    """A failed login for a new account each time: only the address can lock."""
    counter = iter(range(1000))

    def send(**meta: str) -> int:
        email = f"probe{next(counter)}@example.com"
        body = {"email": email, "password": "wrong"}
        response = public_client.post("/api/v1/auth/login/", body, format="json", **meta)
        if response.status_code == 429:
            assert response.json()["code"] == "login_locked"
        return response.status_code

    return send


@pytest.mark.django_db
def test_login_lockout_by_address_ignores_a_spoofed_forwarded_for(public_client, lockout):
    _exhausted_then_spoofed(_login_as_someone_new(public_client), limit=2)


@pytest.mark.django_db
def test_login_lockout_counts_the_client_behind_a_trusted_proxy(public_client, lockout):
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        _behind_the_proxy(_login_as_someone_new(public_client), limit=2)


# --- IPv6: per /64 -------------------------------------------------------------------

HOST_V6 = "2001:db8:1:2::1"  # one host's (or home's) /64: it may use any address in it
SAME_64 = "2001:db8:1:2:ffff:eeee:dddd:cccc"
OTHER_64 = "2001:db8:1:3::1"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (HOST_V6, "2001:db8:1:2::/64"),
        (SAME_64, "2001:db8:1:2::/64"),
        (OTHER_64, "2001:db8:1:3::/64"),
        ("::1", "::/64"),
        ("", ""),
    ],
)
def test_address_key(address, key):
    assert address_key(address) == key


def test_client_ip_key_counts_an_ipv6_client_by_its_64():
    assert client_ip_key(_request(HOST_V6)) == client_ip_key(_request(SAME_64))
    assert client_ip_key(_request(HOST_V6)) != client_ip_key(_request(OTHER_64))
    assert client_ip_key(_request(f"::ffff:{CLIENT}")) == CLIENT  # IPv4-mapped: IPv4
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        behind = _request(PROXY, f"[{SAME_64}]:443")
        assert client_ip(behind) == SAME_64  # the address itself stays exact
        assert client_ip_key(behind) == "2001:db8:1:2::/64"


def _same_64_then_another(send: Send, limit: int, refused: int = 429) -> None:
    """``limit`` requests from addresses of one /64 exhaust it for all of
    them; another /64 has its own budget."""
    addresses = [f"2001:db8:1:2::{n:x}" for n in range(1, limit + 3)]
    for address in addresses[:limit]:
        assert send(REMOTE_ADDR=address) != refused
    assert send(REMOTE_ADDR=addresses[limit]) == refused
    assert send(REMOTE_ADDR=SAME_64) == refused
    assert send(REMOTE_ADDR=OTHER_64) != refused


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [_signup, _login], ids=["signup", "login"])
def test_scoped_throttle_counts_an_ipv6_client_by_its_64(public_client, rates, endpoint):
    _same_64_then_another(endpoint(public_client), limit=2)


@pytest.mark.django_db
def test_anonymous_rate_counts_an_ipv6_client_by_its_64(public_client, rates, monkeypatch):
    from apps.common.throttling import AnonRateThrottle

    monkeypatch.setattr(APIView, "throttle_classes", [AnonRateThrottle])

    def send(**meta: str) -> int:
        return public_client.get("/api/v1/meta/", **meta).status_code

    _same_64_then_another(send, limit=2)


@pytest.mark.django_db
def test_login_lockout_counts_an_ipv6_client_by_its_64(public_client, lockout):
    _same_64_then_another(_login_as_someone_new(public_client), limit=2)


def test_allauth_rate_limits_count_an_ipv6_client_by_the_same_64():
    """allauth truncates the adapter's (exact) address itself: same prefix."""
    from allauth import app_settings
    from allauth.account.adapter import get_adapter
    from allauth.core.internal.ratelimit import get_ip

    from config.client_ip import IPV6_PREFIX

    assert app_settings.RATE_LIMIT_IPV6_PREFIX == IPV6_PREFIX
    assert get_adapter().get_client_ip(_request(SAME_64)) == SAME_64  # exact (emails)
    assert get_ip(_request(HOST_V6)) == get_ip(_request(SAME_64))
    assert get_ip(_request(HOST_V6)) != get_ip(_request(OTHER_64))


@pytest.mark.django_db
@override_settings(NOVATIME_TRUSTED_PROXIES=[], NOVATIME_METRICS_TOKEN="")
def test_metrics_allow_list_keeps_the_exact_ipv6_address(public_client):
    def status(**meta: str) -> int:
        return public_client.get("/metrics", **meta).status_code

    assert status(REMOTE_ADDR="fd00::1") == 200  # unique local: private
    assert status(REMOTE_ADDR="::1") == 200
    assert status(REMOTE_ADDR="2606:4700::1") == 403


@pytest.mark.django_db
@override_settings(NOVATIME_METRICS_TOKEN="")
def test_metrics_allow_list_ignores_a_spoofed_forwarded_for(public_client):
    def status(**meta: str) -> int:
        return public_client.get("/metrics", **meta).status_code

    # A public client cannot pass for a private one ...
    assert status(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="127.0.0.1") == 403
    assert status(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="10.1.2.3") == 403
    assert status(REMOTE_ADDR="10.1.2.3") == 200
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        # ... nor, behind the (private) ingress, through the ingress's address.
        assert status(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER) == 403
        assert status(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"10.1.2.3, {ATTACKER}") == 403
        assert status(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.1.2.3") == 200


def test_allauth_rate_limits_use_the_one_client_address():
    from allauth.account.adapter import get_adapter

    adapter = get_adapter()
    spoofed = _request(ATTACKER, SPOOF)
    assert adapter.get_client_ip(spoofed) == ATTACKER
    with override_settings(NOVATIME_TRUSTED_PROXIES=[PROXY_NET]):
        assert adapter.get_client_ip(_request(PROXY, f"{SPOOF}, {CLIENT}")) == CLIENT


# --- the web server in front ----------------------------------------------------------


def _gunicorn_setting(monkeypatch: pytest.MonkeyPatch, value: str | None) -> Any:
    if value is None:
        monkeypatch.delenv("NOVATIME_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("NOVATIME_TRUSTED_PROXIES", value)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    return runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["forwarded_allow_ips"]


def test_gunicorn_trusts_nobody_by_default(monkeypatch):
    assert _gunicorn_setting(monkeypatch, None) == ""
    from gunicorn.config import Config

    config = Config()
    config.set("forwarded_allow_ips", "")
    assert config.forwarded_allow_ips == []


def _uvicorn_client(trusted: str, peer: str, forwarded_for: str) -> str:
    """The client address uvicorn's proxy-headers middleware (what gunicorn's
    uvicorn worker runs with ``forwarded_allow_ips``) hands the application."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["client"] = scope["client"]

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
    scope = {
        "type": "http",
        "client": (peer, 40000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for else [],
    }
    async_to_sync(middleware)(scope, None, None)
    return str(seen["client"][0])


@pytest.mark.parametrize("trusted", ["", PROXY_NET, f"{PROXY_NET},10.0.0.0/8"])
@pytest.mark.parametrize(
    ("peer", "forwarded_for"),
    [
        (ATTACKER, SPOOF),
        (PROXY, CLIENT),
        (PROXY, f"{SPOOF}, {CLIENT}"),
        (PROXY, f"{CLIENT}, 192.0.2.11"),
        (PROXY, "192.0.2.20, 192.0.2.11"),
        (PROXY, ""),
        (PROXY, f"{CLIENT}, unknown"),
        (PROXY, f"{CLIENT}, "),
        (PROXY, f"{SPOOF}, junk, 192.0.2.11"),
    ],
)
def test_the_web_server_and_the_application_agree_on_the_client(
    monkeypatch, trusted, peer, forwarded_for
):
    """gunicorn's config gives uvicorn the application's list; uvicorn's
    address, seen again by the application (REMOTE_ADDR) with the same
    header, stays what the application alone would have chosen. uvicorn
    itself names the same client, except where the application is stricter:
    every hop trusted (uvicorn: the leftmost hop) or an empty hop (uvicorn:
    the proxy); only its access log shows those."""
    server_list = _gunicorn_setting(monkeypatch, trusted)
    assert server_list == server_forwarded_allow_ips({"NOVATIME_TRUSTED_PROXIES": trusted})
    from gunicorn.config import Config

    config = Config()
    config.set("forwarded_allow_ips", server_list)  # gunicorn's own validation accepts it
    from_server = _uvicorn_client(server_list, peer, forwarded_for)
    with override_settings(NOVATIME_TRUSTED_PROXIES=[e for e in trusted.split(",") if e]):
        alone = client_ip(_request(peer, forwarded_for or None))
        again = client_ip(_request(from_server, forwarded_for or None))
    assert alone == again
    hops = [h.strip() for h in forwarded_for.split(",")] if forwarded_for else []
    all_trusted = bool(hops) and all(h.startswith("192.0.2.") for h in hops)
    if trusted and peer == PROXY and (all_trusted or "" in hops):
        return
    if alone:
        assert from_server == alone
    else:  # unknown client: uvicorn hands on the hop as written, no address either
        assert client_ip(_request(from_server)) == ""


# --- the Kubernetes manifests ------------------------------------------------------


def _deploy_validate() -> Any:
    spec = importlib.util.spec_from_file_location(
        "deploy_validate", ROOT / "deploy" / "validate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_kustomize = pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")),
    reason="kubectl/kustomize not installed",
)


@_kustomize
def test_the_manifests_ship_no_trusted_range_and_the_validator_refuses_that():
    """The base used to trust all of 10.0.0.0/8 (the nodes a LoadBalancer
    forwards through included): now a placeholder the operator must replace
    with the ingress pods' range, refused by deploy/validate.py in every
    build (and by the app at start-up, test_a_bad_trusted_proxy_entry_is_refused)."""
    validate = _deploy_validate()
    problems = validate.check_operator_settings()
    assert len(problems) == len(validate.kustomize_dirs())
    assert all("NOVATIME_TRUSTED_PROXIES is the placeholder" in p for p in problems)
    assert validate.main() == 1


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("10.244.3.0/24", None),
        ("10.244.3.0/24, 10.244.7.0/24", None),
        ("", "is empty"),
        ("SET-ME-ingress-controller-pod-cidr", "is the placeholder"),
        ("0.0.0.0/0", "trusts every address"),
        ("10.244.3.0/24,::/0", "trusts every address"),
        ("10.244.3.5/24", "would not start"),
        (" , ", "names no network"),
    ],
)
@_kustomize
def test_the_validator_wants_the_ingress_range(tmp_path, value, refused):
    """An overlay that sets the value through its configMapGenerator, as
    deploy/README.md says, is built and checked."""
    validate = _deploy_validate()
    shutil.copytree(ROOT / "deploy" / "k8s", tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "mine"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n  - ../../base\n"
        "configMapGenerator:\n"
        "  - name: novatime-config\n"
        "    behavior: merge\n"
        f"    literals:\n      - NOVATIME_TRUSTED_PROXIES={value}\n"
        "generatorOptions:\n  disableNameSuffixHash: true\n"
    )
    problems = validate.check_trusted_proxies(overlay, validate.build_kustomization(overlay))
    if refused is None:
        assert problems == []
    else:
        assert len(problems) == 1 and refused in problems[0]
