"""Production settings: ``check --deploy`` is clean, secrets have no defaults,
hosts/CSRF/HTTPS are right for ``*.<base>``, throttles per IP and per user,
request size limits, and unsupported connection pooling is refused."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from apps.organizations.tests.factories import client_as
from config.client_ip import server_forwarded_allow_ips
from config.pooling import check_database_pooling, probe_session_state
from tenants.testing import database_url

pytestmark = pytest.mark.django_db

BASE = "novatime.app"


def _prod_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DJANGO_DEBUG"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        NOVATIME_BASE_DOMAIN=BASE,
        SENTRY_DSN="",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _settings_of(env: dict[str, str], *names: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        f"""
        import json, django
        django.setup()
        from django.conf import settings
        print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_check_deploy_passes_with_zero_warnings():
    """Every deploy check (security.*, Django, apps) is silent. drf-spectacular
    adds its schema-generation warnings to ``check --deploy`` too; those belong
    to the API views and are held at zero by tests/test_openapi.py
    (``fail_on_warn``), so they are listed here only to be excluded."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        env=_prod_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    issues = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith("?:") or ": (" in line
    ]
    ours = [line for line in issues if "(drf_spectacular." not in line]
    assert ours == [], "\n".join(ours)
    assert "System check identified" in result.stdout + result.stderr


@pytest.mark.slow
def test_hosts_cookies_https_and_throttles():
    result = _settings_of(
        _prod_env(),
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER",
        "X_FRAME_OPTIONS",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "REST_FRAMEWORK",
        "NOVATIME_TRUSTED_PROXIES",
        "DATABASES",
        "MIDDLEWARE",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert s["DEBUG"] is False
    assert s["ALLOWED_HOSTS"] == [BASE, f".{BASE}"]
    assert s["CSRF_TRUSTED_ORIGINS"] == [f"https://{BASE}", f"https://*.{BASE}"]
    # Host-only: no cookie shared across the organizations' subdomains (UI.md).
    assert s["SESSION_COOKIE_DOMAIN"] is None
    assert s["SESSION_COOKIE_SECURE"] is s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 31_536_000 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["X_FRAME_OPTIONS"] == "DENY"
    assert s["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 5 * 1024 * 1024
    throttles = s["REST_FRAMEWORK"]["DEFAULT_THROTTLE_CLASSES"]
    # DRF's throttles keyed on config.client_ip (X-Forwarded-For only from
    # NOVATIME_TRUSTED_PROXIES, empty by default: trust nobody).
    assert throttles == [
        "apps.common.throttling.AnonRateThrottle",
        "apps.common.throttling.UserRateThrottle",
        "apps.common.throttling.ScopedRateThrottle",  # login, signup, …
    ]
    assert s["NOVATIME_TRUSTED_PROXIES"] == []
    assert "NUM_PROXIES" not in s["REST_FRAMEWORK"]
    rates = s["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"]
    assert rates["anon"] and rates["user"] and rates["login"]
    db = s["DATABASES"]["default"]
    # The web process is ASGI: pooled, no per-thread persistent connections.
    assert db["CONN_HEALTH_CHECKS"] is True and db["CONN_MAX_AGE"] == 0
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 10}
    assert s["MIDDLEWARE"][:2] == [
        "config.observability.RequestIdMiddleware",
        "apps.common.metrics.MetricsMiddleware",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_a_missing_secret_stops_the_process(missing):
    env = _prod_env()
    env.pop(missing)
    result = _settings_of(env, "DEBUG")
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["transaction", "statement"])
def test_transaction_pooling_is_refused_by_name(mode):
    result = _settings_of(_prod_env(NOVATIME_DB_POOL_MODE=mode), "DATABASES")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "session" in result.stderr


@pytest.mark.slow
def test_django_pool_mode_configures_the_psycopg_pool():
    result = _settings_of(_prod_env(NOVATIME_DB_POOL_MODE="django"), "DATABASES")
    assert result.returncode == 0, result.stderr[-2000:]
    db = json.loads(result.stdout.strip().splitlines()[-1])["DATABASES"]["default"]
    assert db["CONN_MAX_AGE"] == 0
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 10}


# --- throttles (in process, the production classes with small rates) -------------


@pytest.fixture
def production_throttles(monkeypatch):
    """The production throttle classes and small rates. DRF binds both at import
    time (class attributes), so they are patched where DRF reads them."""
    from apps.common.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle

    monkeypatch.setattr(
        APIView, "throttle_classes", [AnonRateThrottle, UserRateThrottle, ScopedRateThrottle]
    )
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "5/min"}, raising=False
    )


def test_anonymous_requests_are_throttled_per_address(public_client, production_throttles):
    from apps.common.api.views import HostMetaView

    assert HostMetaView.throttle_classes  # inherits the defaults
    for _ in range(3):
        assert public_client.get("/api/v1/meta/", REMOTE_ADDR="10.9.9.1").status_code == 200
    blocked = public_client.get("/api/v1/meta/", REMOTE_ADDR="10.9.9.1")
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "throttled"
    assert "Retry-After" in blocked
    # Another address has its own budget.
    assert public_client.get("/api/v1/meta/", REMOTE_ADDR="10.9.9.2").status_code == 200


def test_authenticated_requests_are_throttled_per_user(tenant, production_throttles):
    first, second = client_as(tenant, "member"), client_as(tenant, "member")
    for _ in range(5):
        assert first.get("/api/v1/projects/").status_code == 200
    assert first.get("/api/v1/projects/").status_code == 429
    # Same address, another user: not affected.
    assert second.get("/api/v1/projects/").status_code == 200


# --- request size ---------------------------------------------------------------


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_an_oversized_body_is_refused_with_a_json_error_and_nothing_written(tenant):
    from django_tenants.utils import tenant_context

    from apps.projects.models import Project

    client = client_as(tenant, "admin")
    response = client.post(
        "/api/v1/projects/", {"name": "Big", "description": "x" * 4096}, format="json"
    )
    # Django refuses the body (RequestDataTooBig) before the view parses it;
    # the JSON 413 comes from apps.common.errors.
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    with tenant_context(tenant):
        assert not Project.objects.filter(name="Big").exists()
    small = client.post("/api/v1/projects/", {"name": "Small"}, format="json")
    assert small.status_code == 201


# --- pooling probe ----------------------------------------------------------------


def test_pooling_probe_passes_on_a_direct_connection():
    result = check_database_pooling()
    assert result.ok, result.detail


def _start_pgbouncer(tmp_path, mode: str) -> tuple[subprocess.Popen, int]:
    import socket
    import time

    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = settings.DATABASES["default"]
    (tmp_path / "users.txt").write_text(f'"{db["USER"]}" ""\n')
    (tmp_path / "pgb.ini").write_text(
        textwrap.dedent(
            f"""
            [databases]
            * = host={db["HOST"] or "127.0.0.1"} port={db["PORT"] or 5432}
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            auth_type = trust
            auth_file = {tmp_path}/users.txt
            pool_mode = {mode}
            default_pool_size = 4
            unix_socket_dir =
            """
        )
    )
    tmp_path.chmod(0o777)
    for f in tmp_path.iterdir():
        f.chmod(0o666)
    cmd = [binary, str(tmp_path / "pgb.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        cmd[1:1] = ["-u", "postgres"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"pgbouncer did not start: {proc.stderr.read().decode()[-500:]}")


_has_pgbouncer = bool(shutil.which("pgbouncer")) or os.path.exists("/usr/sbin/pgbouncer")


@pytest.mark.slow
@pytest.mark.skipif(
    not _has_pgbouncer,
    reason="pgbouncer not installed (scripts/ensure_test_packages.sh installs it)",
)
@pytest.mark.parametrize(("mode", "ok"), [("session", True), ("transaction", False)])
def test_pooling_probe_through_a_real_pgbouncer(tmp_path, mode, ok):
    proc, port = _start_pgbouncer(tmp_path, mode)
    try:
        db = settings.DATABASES["default"]
        result = probe_session_state(
            {
                "host": "127.0.0.1",
                "port": port,
                "user": db["USER"],
                "dbname": db["NAME"],
                "prepare_threshold": None,
            }
        )
    finally:
        proc.terminate()
        proc.wait(10)
    assert result.ok is ok, result.detail


@pytest.mark.slow
@pytest.mark.skipif(
    not _has_pgbouncer,
    reason="pgbouncer not installed (scripts/ensure_test_packages.sh installs it)",
)
def test_startup_check_refuses_a_transaction_pooler(tmp_path):
    from tenants.testing import manage_env

    proc, port = _start_pgbouncer(tmp_path, "transaction")
    try:
        db = settings.DATABASES["default"]
        env = manage_env(DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{port}/{db['NAME']}")
        result = subprocess.run(
            [sys.executable, "-m", "config.pooling"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        proc.terminate()
        proc.wait(10)
    assert result.returncode == 1
    assert "refusing to start" in result.stderr


_SCHEME_SCRIPT = """
import io, json, django
django.setup()
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from gunicorn.config import Config as GunicornConfig
from uvicorn.config import Config

seen = []

async def app(scope, receive, send):
    seen.append(ASGIRequest(scope, io.BytesIO()).is_secure())

# What the production worker runs: uvicorn's proxy headers with gunicorn's
# forwarded_allow_ips from deploy/gunicorn.conf.py (NOVATIME_TRUSTED_PROXIES).
gunicorn = GunicornConfig()
gunicorn.set("forwarded_allow_ips", {allow!r})
config = Config(app, proxy_headers=True, forwarded_allow_ips=gunicorn.forwarded_allow_ips)
config.load()
for peer, proto in {cases!r}:
    headers = [(b"x-forwarded-proto", proto.encode())] if proto else []
    scope = {{
        "type": "http", "asgi": {{"version": "3.0"}}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": (peer, 40000), "server": ("10.0.0.1", 8000),
    }}
    async_to_sync(config.loaded_app)(scope, None, None)
print(json.dumps([settings.SECURE_PROXY_SSL_HEADER, seen]))
"""


@pytest.mark.parametrize("trusted", ["", "192.0.2.0/24"])
def test_a_spoofed_forwarded_proto_does_not_make_a_request_secure(trusted):
    """X-Forwarded-Proto is believed only from NOVATIME_TRUSTED_PROXIES: the
    web server (uvicorn, with gunicorn's forwarded_allow_ips) sets the scheme
    from it for a trusted peer only, and Django reads that scheme; production
    has no SECURE_PROXY_SSL_HEADER, with which Django believed anyone's."""
    allow = server_forwarded_allow_ips({"NOVATIME_TRUSTED_PROXIES": trusted})
    cases = [
        ("1.2.3.4", "https"),  # a client talking to the app directly, spoofing
        ("192.0.2.10", "https"),  # the ingress that ended TLS
        ("192.0.2.10", "http"),
        ("192.0.2.10", ""),
    ]
    result = subprocess.run(
        [sys.executable, "-c", _SCHEME_SCRIPT.format(allow=allow, cases=cases)],
        env=_prod_env(NOVATIME_TRUSTED_PROXIES=trusted),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    header, secure = json.loads(result.stdout.strip().splitlines()[-1])
    assert secure == [False, bool(trusted), False, False]
    assert header is None
