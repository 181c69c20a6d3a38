"""Every endpoint of the organization host, found by walking the URL resolver.

Nothing here lists endpoints by hand: a view added to ``config.urls_tenant``
(directly or through an app's ``api/urls.py``) becomes a set of isolation cases
the next time the tests are collected. For each URL pattern we record the
route (with its path parameters), the HTTP methods the view answers, and how
the view is protected (organization membership or not, the permission a write
needs), which is what the attack matrix needs to know what to expect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from apps.organizations.constants import Role
from apps.organizations.permissions import PERMISSIONS, IsOrganizationMember, role_has

TENANT_URLCONF = "config.urls_tenant"
#: Methods every view answers without a handler of its own (not attacked).
_IMPLICIT = {"options", "head", "trace"}
WRITE_METHODS = {"post", "put", "patch", "delete"}
_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern of the organization host and the view behind it."""

    route: str  # e.g. "api/v1/projects/<project_id>/members/<pk>/"
    name: str | None  # the URL name (``reverse`` name), when it has one
    view: Any  # the view class (DRF APIView/ViewSet or Django View) or function
    actions: dict[str, str] = field(default_factory=dict)  # viewset method -> action
    params: tuple[tuple[str, str], ...] = ()  # (name, converter) in path order
    segments: tuple[str, ...] = ()  # route split on "/" with params as "<name>"

    @property
    def id(self) -> str:
        return "/" + self.route

    @property
    def methods(self) -> list[str]:
        names = getattr(self.view, "http_method_names", ["get", "post"])
        if self.actions:  # a viewset: its routed actions, minus methods it turns off
            return sorted(m for m in self.actions if m not in _IMPLICIT and m in names)
        if not isinstance(self.view, type):  # a function view: no way to know
            return ["get", "post"]
        return sorted(m for m in names if m not in _IMPLICIT and hasattr(self.view, m))

    @property
    def organization_scoped(self) -> bool:
        """Whether the view requires a membership in the host's organization."""
        classes = getattr(self.view, "permission_classes", None) or []
        return any(isinstance(c, type) and issubclass(c, IsOrganizationMember) for c in classes)

    def permission_for(self, method: str) -> str | None:
        """The permission (``permissions.PERMISSIONS`` key) a view declares for
        ``method``, if it declares one."""
        declared = getattr(self.view, "required_permission", None)
        if declared:
            return declared
        attr = "read_permission" if method in ("get", "head", "options") else "write_permission"
        return getattr(self.view, attr, None)

    def viewer_may(self, method: str) -> bool | None:
        """True/False when the declared permission decides a viewer's
        ``method``; ``None`` when the view declares nothing for it."""
        permission = self.permission_for(method)
        if not isinstance(permission, str) or permission not in PERMISSIONS:
            return None  # decided per request (a property) or unknown: attack it
        return role_has(Role.VIEWER, permission)

    def path(self, values: dict[str, str]) -> str:
        """The concrete path with ``values`` for the path parameters."""
        return "/" + _ROUTE_PARAM.sub(lambda m: values[m.group("name")], self.route)


def _regex_to_route(regex: str) -> str:
    """``^members/(?P<pk>[^/.]+)/$`` → ``members/<pk>/`` (named groups only)."""
    out, i = [], 0
    text = regex.lstrip("^").removesuffix("$").removesuffix("\\Z")
    while i < len(text):
        if text.startswith("(?P<", i):
            end_name = text.index(">", i)
            name = text[i + 4 : end_name]
            depth, j = 1, end_name + 1
            while depth:
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            out.append(f"<{name}>")
            i = j
        elif text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _pattern_text(pattern: Any) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern)
    if isinstance(pattern, RegexPattern):
        return _regex_to_route(pattern.regex.pattern)
    raise TypeError(f"unknown URL pattern type {type(pattern)!r}")


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        text = prefix + _pattern_text(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, text)
        else:
            yield text, entry


@cache
def tenant_endpoints() -> tuple[Endpoint, ...]:
    """Every URL pattern of the organization host (resolver order)."""
    endpoints = []
    for route, pattern in _walk(get_resolver(TENANT_URLCONF).url_patterns, ""):
        callback = pattern.callback
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback
        params = tuple(
            (m.group("name"), m.group("converter") or "str") for m in _ROUTE_PARAM.finditer(route)
        )
        # A converter named in a RoutePattern is kept in the route text; the
        # matching converter objects are on the pattern (uuid, str, ...).
        converters = getattr(pattern.pattern, "converters", {})
        params = tuple(
            (name, type(converters[name]).__name__.removesuffix("Converter").lower())
            if name in converters
            else (name, conv)
            for name, conv in params
        )
        clean_route = _ROUTE_PARAM.sub(lambda m: f"<{m.group('name')}>", route)
        endpoints.append(
            Endpoint(
                route=clean_route,
                name=pattern.name,
                view=view,
                actions=dict(getattr(callback, "actions", None) or {}),
                params=params,
                segments=tuple(clean_route.strip("/").split("/")),
            )
        )
    return tuple(endpoints)


def param_is_uuid(endpoint: Endpoint, name: str) -> bool:
    converter = dict(endpoint.params)[name]
    # Router regex patterns ([^/.]+) carry no converter: treat pk-like names as ids.
    return converter == "uuid" or (converter == "str" and (name == "pk" or name.endswith("_id")))


def _singular(word: str) -> str:
    word = word.replace("-", "").replace("_", "").lower()
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def model_candidates(endpoint: Endpoint, name: str) -> list[str]:
    """Model names (lower case, best first) a path parameter probably refers
    to: ``project_id`` → project; ``projects/<project_id>/members/<pk>`` →
    projectmember, member; ``time-entries/<pk>`` → timeentry."""
    index = endpoint.segments.index(f"<{name}>")
    literals = [s for s in endpoint.segments[:index] if not s.startswith("<")]
    collection = _singular(literals[-1]) if literals else ""
    parents = [
        _singular(s)
        for s in endpoint.segments[:index]
        if not s.startswith("<") and s not in ("api", "v1")
    ][:-1]
    out: list[str] = []
    if name not in ("pk", "id") and name.endswith("_id"):
        out.append(name[:-3].replace("_", ""))
    for parent in reversed(parents):
        out.append(parent + collection)
    if collection:
        out.append(collection)
    return out
