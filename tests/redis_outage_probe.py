"""Fault probe: the whole ASGI application with Redis unreachable.

Run by tests/test_faults.py in a fresh process under each settings module
(``DJANGO_SETTINGS_MODULE``), with ``REDIS_URL`` (cache, channel layer,
Celery broker) pointing at an address where nothing listens: the real
backends meet a real connection failure, nothing is mocked. It drives
``config.asgi.application`` as the servers do (HTTP and WebSocket through
Channels' communicators) and prints one JSON line: what each step answered
and how long it took. The committed rows it makes (a member, a token, a
project) are deleted before it exits.

Not collected by pytest (no ``test_`` prefix): ``python -m tests.redis_outage_probe``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from typing import Any

import django

django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from channels.testing import HttpCommunicator, WebsocketCommunicator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import get_tenant_model, tenant_context  # noqa: E402

from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory  # noqa: E402
from apps.iam.tokens import token_create  # noqa: E402
from apps.organizations.tests.factories import MembershipFactory  # noqa: E402
from apps.projects.models import Project  # noqa: E402
from config.asgi import application  # noqa: E402

logging.disable(logging.WARNING)  # the outage warnings are expected; keep stdout clean


async def _http(
    method: str, path: str, host: str, body: dict[str, Any] | None = None, token: str = ""
) -> dict[str, Any]:
    raw = json.dumps(body).encode() if body else b""
    headers = [
        (b"host", host.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
    ]
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    started = time.perf_counter()
    communicator = HttpCommunicator(application, method, path, body=raw, headers=headers)
    response = await communicator.get_response(timeout=30)
    text = response["body"].decode()
    try:
        payload: Any = json.loads(text)
    except ValueError:
        payload = text[:300]
    return {
        "status": response["status"],
        "body": payload,
        "seconds": round(time.perf_counter() - started, 3),
    }


async def _socket(host: str, cookie: str) -> dict[str, Any]:
    headers = [
        (b"host", host.encode()),
        (b"origin", f"http://{host}".encode()),
        (b"cookie", cookie.encode()),
    ]
    started = time.perf_counter()
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    try:
        connected, _ = await communicator.connect(timeout=15)
        message = await communicator.receive_output(timeout=15) if connected else {}
        await communicator.wait(timeout=5)
    except Exception as exc:  # what the server would see as a crashed application
        return {"error": f"{exc.__class__.__name__}: {exc}"}
    return {
        "accepted": connected,
        "type": message.get("type"),
        "code": message.get("code"),
        "reason": message.get("reason", ""),
        "seconds": round(time.perf_counter() - started, 3),
    }


def main() -> None:
    base = settings.NOVATIME_BASE_DOMAIN
    tenant = get_tenant_model().objects.get(slug="acme")
    host = f"acme.{base}"
    tag = uuid.uuid4().hex[:8]
    user = UserFactory(email=f"outage-{tag}@example.com")
    project_name = f"outage-{tag}"
    try:
        outcome = _probe(tenant, host, user, project_name)
    finally:
        with tenant_context(tenant):
            Project.all_objects.filter(name=project_name).delete()
        user.delete()  # its membership, token, session and address with it
    sys.stdout.write(json.dumps(outcome) + "\n")  # the test reads this line


def _probe(tenant: Any, host: str, user: Any, project_name: str) -> dict[str, Any]:
    base = settings.NOVATIME_BASE_DOMAIN
    MembershipFactory(organization=tenant, user=user, role="manager")
    # Production's mandatory verification: a verified address, as after signup.
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    _, key = token_create(user=user, name="redis outage probe")
    browser = Client(HTTP_HOST=host)
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    wrong = {"email": user.email, "password": "not the password"}
    right = {"email": user.email, "password": DEFAULT_PASSWORD}

    async def run() -> dict[str, Any]:
        return {
            "cache_backend": settings.CACHES["default"]["BACKEND"],
            "read": await _http("GET", "/api/v1/projects/", host, token=key),
            "write": await _http(
                "POST", "/api/v1/projects/", host, {"name": project_name}, token=key
            ),
            "login_wrong": await _http("POST", "/api/v1/auth/login/", base, wrong),
            "login": await _http("POST", "/api/v1/auth/login/", base, right),
            "readyz": await _http("GET", "/readyz", base),
            "ticket": await _http("POST", "/api/v1/realtime/ticket/", host, token=key),
            "websocket": await _socket(host, cookie),
        }

    outcome = asyncio.run(run())
    with tenant_context(tenant):
        outcome["project_saved"] = Project.objects.filter(name=project_name).exists()
    return outcome


if __name__ == "__main__":
    main()
