"""The run command's web server believes forwarding headers only from the
proxies the application trusts (#18, item 5): uvicorn's own default trusts
127.0.0.1, which let any local client choose the address the throttles and the
login lockout count."""

from __future__ import annotations

import pytest

from scripts.dev import _forwarding_flags


def test_no_trusted_proxies_turns_uvicorns_proxy_headers_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOVATIME_TRUSTED_PROXIES", raising=False)
    assert _forwarding_flags() == ["--no-proxy-headers"]


def test_trusted_proxies_are_uvicorns_forwarded_allow_ips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVATIME_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert _forwarding_flags() == ["--forwarded-allow-ips", "10.0.0.0/8,192.0.2.7/32"]


def test_a_malformed_proxy_list_stops_the_run_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVATIME_TRUSTED_PROXIES", "10.0.0.5/8")
    with pytest.raises(ValueError, match="NOVATIME_TRUSTED_PROXIES"):
        _forwarding_flags()
