"""The client's address: one function for every per-address decision.

``X-Forwarded-For`` is written by whoever sends the request, so it is believed
only from the proxies named in ``NOVATIME_TRUSTED_PROXIES`` (IP addresses or
CIDR networks; empty, the default, trusts nobody and the client is the peer
address, ``REMOTE_ADDR``). When the peer is a trusted proxy, the header's hops
are walked from the right past every trusted one, and the first untrusted hop
is the client: everything to its left was written by that client and proves
nothing. Two edges of the walk, both decided against whatever a client can
write (:func:`_walk`):

* A hop that is no IP address (``unknown``, ``_hidden``, an empty token, a
  bad port) stops the walk: it stands where a trusted proxy's hop should be,
  so the client is unknown (``""``, as for a peer that is no IP address) and
  nothing further left is believed. Skipping it would hand the decision to the
  hop on its left, which the client may have written:
  ``X-Forwarded-For: 203.0.113.9, unknown`` is not ``203.0.113.9``.
* Every hop trusted: the rightmost hop, the address the nearest proxy saw
  and wrote itself, not the leftmost. The leftmost hop is only as good as the
  first machine in the chain, and a trusted range wide enough to hold
  addresses that are no forwarding proxy (the cluster nodes a LoadBalancer
  with ``externalTrafficPolicy: Cluster`` forwards through, inside the same
  ``10.0.0.0/8`` as the ingress pods) lets a client write any address of that
  range (a private one, which also passes the ``/metrics`` allow-list) in
  front of the node's hop. Taking the rightmost one, internal clients behind
  a further internal proxy share that proxy's address, the safe side.
  (uvicorn's own log names the leftmost one there; every decision here is
  this module's, which gives the same answer on uvicorn's rewritten
  ``REMOTE_ADDR``.)

Every consumer of a client address uses :func:`client_ip`: the DRF throttles
(``apps.common.throttling``), the login lockout (``apps.iam.lockout``),
allauth's rate limits (``apps.iam.adapters``), the ``/metrics`` allow-list
(``apps.common.metrics``). Per-address *limits* count by
:func:`client_ip_key`: an IPv4 address, or an IPv6 address's /64 network (one
host, or one home's router, gets a whole /64: counted per address it would
have 2**64 separate budgets). allauth truncates to the same /64 itself
(``ALLAUTH_RATE_LIMIT_IPV6_PREFIX``, 64 by default). The allow-list keeps the
exact address. The web server in front applies the same list:
``deploy/gunicorn.conf.py`` passes it to uvicorn as ``forwarded_allow_ips``
(:func:`server_forwarded_allow_ips`), so the address uvicorn puts in
``REMOTE_ADDR`` and the one computed here agree (the walk gives the same
answer when it is run again on its own result).

Parsing each hop (ports, brackets, IPv6 zones, IPv4-mapped and NAT64
addresses) is django-ipware's (python-ipware's modern engine, ``parse_ip``).
The pick is not: ipware's ``proxy_count`` skips unparseable hops (or, strict,
refuses the whole header, so that a client could make itself unknown by
writing junk to the left of its own hop), and its ``proxy_trusted_ips``
matches the header's trailing hops in order and never looks at the peer, so a
client connecting directly could forge the whole chain.

This module imports nothing from Django at import time: gunicorn's config
reads :func:`server_forwarded_allow_ips` before Django is set up.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request

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


#: IPv6 clients are counted per network of this length (:func:`client_ip_key`).
IPV6_PREFIX = 64


def address_key(address: str) -> str:
    """The per-address limit's key of ``address``: an IPv4 address as is, an
    IPv6 address as its /64 network (``2001:db8:1:2::/64``), ``""`` (unknown)
    as is. IPv4-mapped addresses are IPv4 already (``client_ip``)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return address
    return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))


def client_ip_key(request: HttpRequest | Request) -> str:
    """:func:`client_ip` as a per-address limit counts it (:func:`address_key`):
    every throttle and the login lockout key on this, so that a host cannot
    escape them by moving through the addresses of its IPv6 /64."""
    return address_key(client_ip(request))


#: Attribute of the Django request holding ``(key, address)`` (see :func:`client_ip`).
_CACHE_ATTR = "_novatime_client_ip"


def client_ip(request: HttpRequest | Request) -> str:
    """The address of the client that sent ``request`` (a Django or DRF
    request), as a string; ``""`` when it is unknown: the peer address is
    missing or is not an IP address (a Unix socket), or a trusted proxy's hop
    is not one."""
    from django.conf import settings

    entries = tuple(getattr(settings, "NOVATIME_TRUSTED_PROXIES", ()))
    meta = request.META
    key = (entries, meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""))
    # One walk per request: throttles, lockout and allauth each ask (2-5 times
    # for an anonymous login). Kept on the Django request (a DRF request
    # wraps it: both see one cache), keyed by what the answer depends on, so
    # a changed setting (tests) or header never reuses a stale answer.
    holder = getattr(request, "_request", request)
    cached = getattr(holder, _CACHE_ATTR, None)
    if cached is not None and cached[0] == key:
        return str(cached[1])
    address = _walk(meta, _networks(entries))
    setattr(holder, _CACHE_ATTR, (key, address))
    return address


def _walk(meta: Mapping[str, str], networks: tuple[Network, ...]) -> str:
    """Rightmost untrusted hop of ``X-Forwarded-For``, believed only from a
    trusted peer; a hop that is no address stops the walk (``""``); every hop
    trusted gives the rightmost one (see the module docstring for why)."""
    from python_ipware.modern.parsers import parse_ip

    peer = parse_ip(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    if not networks or not _trusted(peer, networks):
        return str(peer)  # not from a proxy we trust: its headers prove nothing
    raw = meta.get("HTTP_X_FORWARDED_FOR", "")
    if not raw.strip():
        return str(peer)  # the proxy itself, or a request it did not forward
    hops = raw.split(",")
    for token in reversed(hops):
        hop = parse_ip(token)
        if hop is None:
            return ""  # where a trusted proxy's hop should be: the client is unknown
        if not _trusted(hop, networks):
            return str(hop)
    nearest = parse_ip(hops[-1])  # every hop trusted: the one the peer wrote itself
    return str(nearest)
