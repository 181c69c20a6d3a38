"""config/handlers.py: the HTTP middleware chain and the view run in one
thread hop per request (Django's own ASGI handler adds hops for every
async-capable middleware), and requests still get their answers."""

from __future__ import annotations

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings

from config.handlers import OneHopASGIHandler

#: Built-in middleware that is async-capable (MiddlewareMixin): harmless to
#: run twice, and each copy costs Django's own ASGI chain thread hops.
EXTRA = ["django.middleware.clickjacking.XFrameOptionsMiddleware"] * 3


def _hops(handler_class: type[ASGIHandler], monkeypatch, extra: list[str]) -> int:
    """``sync_to_async`` calls made while one request goes through."""
    from django.conf import settings

    calls = 0
    original = SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        return await original(self, *args, **kwargs)

    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, *extra]):
        handler = handler_class()
        monkeypatch.setattr(SyncToAsync, "__call__", counting)
        try:
            response = async_to_sync(
                HttpCommunicator(
                    handler, "GET", "/api/v1/organizations/", headers=[(b"host", b"localhost")]
                ).get_response
            )()
        finally:
            monkeypatch.setattr(SyncToAsync, "__call__", original)
    assert response["status"] == 401  # a DRF view answered, past every middleware
    return calls


@pytest.mark.django_db
def test_hops_do_not_grow_with_the_middleware(monkeypatch):
    assert _hops(OneHopASGIHandler, monkeypatch, EXTRA) == _hops(OneHopASGIHandler, monkeypatch, [])
    # Django's own handler: each async-capable middleware adds hops (why
    # config/handlers.py exists).
    assert _hops(ASGIHandler, monkeypatch, EXTRA) > _hops(ASGIHandler, monkeypatch, [])


def test_the_chain_is_one_sync_to_async():
    assert isinstance(OneHopASGIHandler()._middleware_chain, SyncToAsync)


@pytest.mark.django_db
def test_unknown_host_still_gets_its_json_404():
    response = async_to_sync(
        HttpCommunicator(
            OneHopASGIHandler(), "GET", "/api/v1/timer/", headers=[(b"host", b"nobody.localhost")]
        ).get_response
    )()
    assert response["status"] == 404
    assert b"tenant_not_found" in response["body"]
