"""The client's address: one function for every per-address decision.

``X-Forwarded-For`` is written by whoever sends the request, so it is believed
only from the proxies named in ``NOVATIME_TRUSTED_PROXIES`` (IP addresses or
CIDR networks; empty, the default, trusts nobody and the client is the peer
address, ``REMOTE_ADDR``). When the peer is a trusted proxy, the header's hops
are walked from the right past every trusted one, and the first untrusted hop
is the client: everything to its left was written by that client and proves
nothing. (All hops trusted: the leftmost one, an internal client.)

Every consumer of a client address uses :func:`client_ip`: the DRF throttles
(``apps.common.throttling``), the login lockout (``apps.iam.lockout``),
allauth's rate limits (``apps.iam.adapters``), the ``/metrics`` allow-list
(``apps.common.metrics``). The web server in front applies the same list:
``deploy/gunicorn.conf.py`` passes it to uvicorn as ``forwarded_allow_ips``
(:func:`server_forwarded_allow_ips`), so the address uvicorn puts in
``REMOTE_ADDR`` and the one computed here agree (the walk gives the same
answer when it is run again on its own result).

Header parsing (ports, brackets, IPv6, IPv4-mapped addresses, junk tokens) and
the pick of the hop are django-ipware's (python-ipware's modern engine). Its
own ``proxy_trusted_ips`` is not used: it matches the header's trailing hops
in order and never looks at the peer, so a client connecting directly could
forge the whole chain.

This module imports nothing from Django at import time: gunicorn's config
reads :func:`server_forwarded_allow_ips` before Django is set up.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

#: The one setting (and environment variable): comma-separated IPs/CIDRs.
TRUSTED_PROXIES_ENV = "NOVATIME_TRUSTED_PROXIES"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted_proxies(entries: str | Iterable[str]) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` (or a list of such) as networks.

    Raises ``ValueError`` on an entry that is no address or network, or a
    network with host bits set (``10.0.0.5/8``): gunicorn refuses those too,
    and a typo must stop the process, not silently trust the wrong range.
    """
    if isinstance(entries, str):
        entries = entries.split(",")
    networks = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as exc:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV}: {entry!r} is not an IP address or CIDR network "
                f"(without host bits): {exc}"
            ) from exc
    return tuple(networks)


def server_forwarded_allow_ips(environ: dict[str, str] | None = None) -> str:
    """The web server's ``forwarded_allow_ips`` (gunicorn/uvicorn): the same
    list as the application's, validated; ``""`` trusts nobody."""
    raw = (os.environ if environ is None else environ).get(TRUSTED_PROXIES_ENV, "")
    return ",".join(str(network) for network in parse_trusted_proxies(raw))


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted_proxies(entries)


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip(request: Any) -> str:
    """The address of the client that sent ``request`` (a Django or DRF
    request), as a string; ``""`` when the peer address is missing or is not
    an IP address (a Unix socket)."""
    from django.conf import settings
    from ipware import get_client_ip
    from python_ipware.modern.parsers import parse_ip, split_proxy_chain

    meta = request.META
    peer = parse_ip(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    networks = _networks(tuple(getattr(settings, "NOVATIME_TRUSTED_PROXIES", ())))
    if not networks or not _trusted(peer, networks):
        return str(peer)  # not from a proxy we trust: its headers prove nothing
    chain = split_proxy_chain(meta.get("HTTP_X_FORWARDED_FOR", ""), strict=False) or []
    if not chain:
        return str(peer)  # the proxy itself, or a request it did not forward
    trusted_hops = 0
    for hop in reversed(chain):
        if not _trusted(hop, networks):
            break
        trusted_hops += 1
    address, _routable = get_client_ip(
        request,
        proxy_count=min(trusted_hops, len(chain) - 1),
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
    )
    return address or str(peer)
