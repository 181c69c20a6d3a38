"""The HTTP isolation matrix: every endpoint of the organization host, every
method it answers, four attacks, each its own test id.

Endpoints are found by walking ``config.urls_tenant`` (tests/isolation/endpoints.py),
so an endpoint added by any app is attacked without editing this file. The
attacked organization is A (``acme``), the other one B (``globex``); both are
full of data (tests/isolation/world.py) whose ids and text markers are searched
for in every response body.

Attacks (test id suffix):

* ``foreign-member``: an owner of B, authenticated, on A's host with A's ids.
  Organization views answer 403 ``not_a_member``; views that do not need a
  membership (auth, host meta, schema) may answer, but never with A's data.
* ``foreign-ids`` / ``foreign-child``: an owner of A *who is also an owner of B*
  on A's host, with B's ids in the path (all of them, or only the last one
  under A's parent). Reads answer 404; writes 404 (or 400 when the body is
  refused first); nothing of B in the body; nothing written anywhere.
* ``anonymous``: no credentials, A's ids. Organization views answer 401.
* ``viewer-write``: a viewer of A writing to A's objects: 403 (404 when the
  object is hidden from them), nothing written. Endpoints whose declared
  permission a viewer holds, and the few listed in ``VIEWER_WRITABLE`` (with
  the reason), are not attacked this way.

Every case: never a 5xx.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from tenants.testing import TenantAPIClient
from tests.isolation.endpoints import (
    WRITE_METHODS,
    Endpoint,
    param_is_uuid,
    tenant_endpoints,
)
from tests.isolation.world import World, fingerprint, model_for_param

pytestmark = pytest.mark.django_db

#: Organization endpoints a viewer may write to by design (URL name → why).
VIEWER_WRITABLE = {
    "realtime-ticket": "every member may open the realtime socket",
    "chat-channel-read": "a read marker is the reader's own state, not shared data",
}


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    method: str
    attack: str

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.endpoint.id} {self.attack}"


def _cases() -> list[Case]:
    cases = []
    for endpoint in tenant_endpoints():
        uuid_params = [n for n, _ in endpoint.params if param_is_uuid(endpoint, n)]
        for method in endpoint.methods:
            cases.append(Case(endpoint, method, "foreign-member"))
            cases.append(Case(endpoint, method, "anonymous"))
            if endpoint.organization_scoped and uuid_params:
                cases.append(Case(endpoint, method, "foreign-ids"))
                if len(uuid_params) > 1:
                    cases.append(Case(endpoint, method, "foreign-child"))
            if (
                method in WRITE_METHODS
                and endpoint.organization_scoped
                and endpoint.viewer_may(method) is not True
                and endpoint.name not in VIEWER_WRITABLE
            ):
                cases.append(Case(endpoint, method, "viewer-write"))
    return cases


CASES = _cases()
CASE_COUNTS = Counter(case.attack for case in CASES)


def _path_values(world: World, endpoint: Endpoint, foreign: set[str]) -> dict[str, str]:
    """A value for each path parameter: an id of the right model from B for the
    parameters named in ``foreign``, from A otherwise (a random UUID when no
    seeded model matches; the coverage test below reports those)."""
    values = {}
    for name, _ in endpoint.params:
        if not param_is_uuid(endpoint, name):
            values[name] = "x"
            continue
        side = world.b if name in foreign else world.a
        values[name] = world.id_for(side, endpoint, name) or str(uuid.uuid4())
    return values


def _send(client: TenantAPIClient, method: str, path: str) -> Any:
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, {}, format="json")


def _body(response: Any) -> str:
    content = getattr(response, "streaming_content", None)
    if content is not None:
        return b"".join(content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _leaks(body: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in body)


@pytest.fixture
def client_for(tenant: Any) -> Any:
    def make(membership: Any | None) -> TenantAPIClient:
        client = TenantAPIClient(tenant)
        if membership is not None:
            client.force_authenticate(membership.user)
        return client

    return make


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_isolation(case: Case, world: World, client_for: Any) -> None:
    endpoint, method = case.endpoint, case.method
    uuid_params = [n for n, _ in endpoint.params if param_is_uuid(endpoint, n)]
    foreign: set[str] = set()
    if case.attack == "foreign-ids":
        foreign = set(uuid_params)
    elif case.attack == "foreign-child":
        foreign = {uuid_params[-1]}
    values = _path_values(world, endpoint, foreign)
    path = endpoint.path(values)
    sent = set(values.values())
    actor = {
        "foreign-member": world.b_owner,
        "anonymous": None,
        "foreign-ids": world.both_owner,
        "foreign-child": world.both_owner,
        "viewer-write": world.a_viewer,
    }[case.attack]
    before = fingerprint(world) if method in WRITE_METHODS else None

    response = _send(client_for(actor), method, path)
    body = _body(response)
    status = response.status_code

    assert status < 500, f"{case.id}: {status} {body[:500]}"
    scoped = endpoint.organization_scoped
    if case.attack == "foreign-member":
        if scoped:
            assert status == 403, f"{case.id}: {status} {body[:300]}"
            assert json.loads(body)["code"] == "not_a_member"
        assert not _leaks(body, world.a.secrets(exclude=sent)), f"{case.id} leaks A's data"
    elif case.attack == "anonymous":
        if scoped:
            assert status == 401, f"{case.id}: {status} {body[:300]}"
        assert not _leaks(body, world.a.secrets(exclude=sent)), f"{case.id} leaks A's data"
    elif case.attack in ("foreign-ids", "foreign-child"):
        allowed = {404} if method not in WRITE_METHODS else {400, 404}
        assert status in allowed, f"{case.id}: {status} {body[:300]}"
        assert not _leaks(body, world.b.secrets(exclude=sent)), f"{case.id} leaks B's data"
    elif case.attack == "viewer-write":
        assert status in (403, 404), f"{case.id}: {status} {body[:300]}"
    if before is not None and (case.attack != "foreign-member" or scoped):
        if case.attack == "anonymous" and not scoped:
            return  # e.g. a login attempt: not a write to organization data
        assert fingerprint(world) == before, f"{case.id} changed data"


def test_matrix_counts_are_recorded(record_property: Any) -> None:
    """The case count per attack (also printed in the terminal summary)."""
    record_property("isolation_cases", dict(CASE_COUNTS))
    assert sum(CASE_COUNTS.values()) == len(CASES)
    # Every organization endpoint is attacked at least as a foreign member and anonymously.
    scoped = [e for e in tenant_endpoints() if e.organization_scoped]
    assert scoped, "no organization endpoint found: the resolver walk is broken"
    assert CASE_COUNTS["foreign-member"] >= sum(len(e.methods) for e in scoped)


def test_every_path_id_maps_to_seeded_rows_of_both_organizations(world: World) -> None:
    """A path parameter the matrix cannot fill with a real id of the right
    model would make its foreign-ids cases toothless: name every such one
    (fix: a factory for the model in apps/<app>/tests/factories.py, or a
    name the heuristics in endpoints.model_candidates understand)."""
    unmapped = []
    for endpoint in tenant_endpoints():
        if not endpoint.organization_scoped:
            continue
        for name, _ in endpoint.params:
            if not param_is_uuid(endpoint, name):
                continue
            a = model_for_param(endpoint, name, world.a)
            b = model_for_param(endpoint, name, world.b)
            if a is None or b is None or a != b:
                unmapped.append(f"{endpoint.id} <{name}>: A={a} B={b}")
    failures = world.a.failures + world.b.failures
    assert not unmapped, "\n".join([*unmapped, "seeding failures:", *failures])


def test_every_documented_operation_is_in_the_matrix() -> None:
    """The resolver walk finds every operation drf-spectacular documents (so
    the walk, not a list, decides what is attacked)."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)

    def norm(route: str) -> str:  # spectacular documents ``pk`` as ``id``
        return re.sub(r"[<{](?:pk|id)[>}]", "<id>", route).replace("{", "<").replace("}", ">")

    attacked = {(norm(c.endpoint.id), c.method) for c in CASES}
    missing = []
    for path, operations in schema["paths"].items():
        route = norm(path)
        for method in operations:
            if method in ("parameters", "servers", "summary", "description"):
                continue
            if (route, method) not in attacked:
                missing.append(f"{method.upper()} {path}")
    assert not missing, missing
