"""The other organization's ids inside request bodies.

For every write (POST/PATCH) of the organization host whose request serializer
takes ids (a related field, a UUID field, a list of UUIDs), an owner of A who
is also an owner of B sends B's id of the right model in that one field, on
A's host. Expected: 400 or 404, nothing of B in the answer besides the id
itself, nothing written in either organization.

A POST case first sends a *control* body (the same body with A's id, inside a
savepoint that is rolled back): only if the control is accepted does the
refusal of B's id prove anything, so a case whose control is refused is
skipped with the reason (visible in the summary), never counted as passed.
Operations and fields come from drf-spectacular's view introspection, not a
list.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from tenants.testing import TenantAPIClient
from tests.isolation.endpoints import Endpoint, model_candidates, tenant_endpoints
from tests.isolation.world import World, fingerprint

pytestmark = pytest.mark.django_db

USER_FIELDS = {"user", "users", "assignees", "members", "mentions", "author", "owner", "reviewer"}


@dataclass(frozen=True)
class BodyCase:
    endpoint: Endpoint
    method: str
    field: str
    many: bool
    model: str  # lower-case model name, or "user"
    serializer: Any = dataclasses.field(compare=False, repr=False)  # the request serializer

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.endpoint.id} {self.field}"


def _request_serializer(view: Any) -> Any:
    try:
        serializer = view.schema.get_request_serializer()
    except Exception:  # introspection of a view that cannot say: no case
        return None
    if isinstance(serializer, type) and issubclass(serializer, serializers.BaseSerializer):
        serializer = serializer()
    return serializer if isinstance(serializer, serializers.BaseSerializer) else None


def _field_model(endpoint: Endpoint, name: str, field: Any) -> str | None:
    relation = field.child_relation if isinstance(field, serializers.ManyRelatedField) else field
    queryset = getattr(relation, "queryset", None)
    if queryset is not None:
        return queryset.model._meta.model_name
    if name in USER_FIELDS:
        return "user"
    from django.apps import apps

    known = {m._meta.model_name for m in apps.get_models()}
    singular = name.rstrip("s") if name.endswith("s") else name
    if singular in known:
        return singular
    # parent / before / after / ids / blocked_by: the collection's own model.
    literals = [s for s in endpoint.segments if not s.startswith("<")]
    fake = Endpoint(
        route=endpoint.route + "<_x>/",
        name=None,
        view=endpoint.view,
        segments=(*[s for s in endpoint.segments if s], "<_x>"),
    )
    for candidate in model_candidates(fake, "_x"):
        if candidate in known:
            return candidate
    return literals[-1] if literals else None


def _cases() -> list[BodyCase]:
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator(urlconf="config.urls_tenant")
    generator._initialise_endpoints()
    by_route = {e.id: e for e in tenant_endpoints()}
    cases = []
    for path, _, method, view in generator._get_paths_and_endpoints():
        if method not in ("POST", "PATCH"):
            continue
        route = path.replace("{", "<").replace("}", ">")
        endpoint = by_route.get(route) or by_route.get(route.replace("<id>", "<pk>"))
        if endpoint is None or not endpoint.organization_scoped:
            continue
        serializer = _request_serializer(view)
        if serializer is None or not hasattr(serializer, "fields"):
            continue
        for name, field in serializer.fields.items():
            if field.read_only:
                continue
            many = isinstance(field, serializers.ManyRelatedField) or (
                isinstance(field, serializers.ListField)
                and isinstance(field.child, serializers.UUIDField | serializers.RelatedField)
            )
            single = isinstance(field, serializers.RelatedField | serializers.UUIDField)
            if not (many or single):
                continue
            model = _field_model(endpoint, name, field)
            if model:
                cases.append(BodyCase(endpoint, method.lower(), name, many, model, serializer))
    return cases


CASES = _cases()


def _value_for(field: Any, name: str) -> Any:
    """A plausible value for a required scalar field (control bodies)."""
    now = timezone.now()
    if getattr(field, "choices", None):
        return next(iter(field.choices))
    if isinstance(field, serializers.EmailField):
        return f"{uuid.uuid4().hex[:8]}@body.test"
    if isinstance(field, serializers.BooleanField):
        return False
    if isinstance(field, serializers.IntegerField):
        return max(1, field.min_value or 1)
    if isinstance(field, serializers.DecimalField):
        return "1.00"
    if isinstance(field, serializers.DateTimeField):
        starts = name.startswith(("start", "from", "begin"))
        return (now - datetime.timedelta(hours=30 if starts else 29)).isoformat()
    if isinstance(field, serializers.DateField):
        return (now.date() - datetime.timedelta(days=1)).isoformat()
    if isinstance(field, serializers.ListField):
        return []
    if isinstance(field, serializers.DictField | serializers.JSONField):
        return {}
    return f"qa {uuid.uuid4().hex[:8]}"


def _id(world: World, side: str, model: str, avoid: frozenset[str] | set[str] = frozenset()) -> str:
    """An id of ``model`` in one organization, not one of ``avoid`` (the path's
    own ids: a project cannot depend on itself)."""
    if model == "user":
        # A person only in that organization (the attacker is in both).
        membership = world.b_owner if side == "b" else world.a_viewer
        return str(membership.user_id)
    holder = world.b if side == "b" else world.a
    ids = [i for i in holder.ids.get(model, []) if i not in avoid] or holder.ids.get(model, [])
    return ids[0] if ids else str(uuid.uuid4())


def _path_values(world: World, endpoint: Endpoint) -> dict[str, str]:
    return {n: world.id_for(world.a, endpoint, n) or str(uuid.uuid4()) for n, _ in endpoint.params}


def _make_consistent(world: World, body: dict[str, Any], models: dict[str, str], skip: str) -> None:
    """Point the body's relations at rows that belong together in A: when the
    row named by one field has a FK to the model of another field, that other
    field takes the row's FK value (a task and *its* project)."""
    from django.apps import apps
    from django.db import models as m
    from django_tenants.utils import tenant_context

    by_name = {mdl._meta.model_name: mdl for mdl in apps.get_models()}
    with tenant_context(world.a.tenant):
        for name, model_name in models.items():
            model = by_name.get(model_name)
            value = body.get(name)
            if model is None or not isinstance(value, str):
                continue
            row = model._base_manager.filter(pk=value).first()
            if row is None:
                continue
            for fk in model._meta.concrete_fields:
                if not isinstance(fk, m.ForeignKey):
                    continue
                for other, other_model in models.items():
                    if (
                        other not in (name, skip)
                        and other_model == fk.related_model._meta.model_name
                    ):
                        body[other] = str(getattr(row, fk.attname))


def _body(case: BodyCase, world: World, side: str, path_ids: set[str]) -> dict[str, Any]:
    value = _id(world, side, case.model, path_ids)
    body: dict[str, Any] = {case.field: [value] if case.many else value}
    if case.method == "patch":
        return body
    models = {case.field: case.model}
    for name, fld in case.serializer.fields.items():
        if name == case.field or fld.read_only or not fld.required:
            continue
        if isinstance(fld, serializers.RelatedField | serializers.UUIDField):
            models[name] = _field_model(case.endpoint, name, fld) or ""
            body[name] = _id(world, "a", models[name], path_ids)
        elif isinstance(fld, serializers.ManyRelatedField):
            model = _field_model(case.endpoint, name, fld)
            body[name] = [_id(world, "a", model or "", path_ids)]
        else:
            body[name] = _value_for(fld, name)
    # The other fields follow the case field's A row in the control body (and
    # keep those A values when the case field carries B's id).
    control = dict(body)
    if side == "b":
        control[case.field] = _id(world, "a", case.model, path_ids)
    _make_consistent(world, control, models, skip="")
    return {**control, case.field: body[case.field]}


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_other_organizations_id_in_a_body_is_refused(case: BodyCase, world: World) -> None:
    client = TenantAPIClient(world.a.tenant)
    client.force_authenticate(world.both_owner.user)
    values = _path_values(world, case.endpoint)
    path = case.endpoint.path(values)
    path_ids = set(values.values())
    send = getattr(client, case.method)

    if case.method == "post":
        control_body = _body(case, world, "a", path_ids)
        try:
            with transaction.atomic():
                control = send(path, control_body, format="json")
                raise _Rollback
        except _Rollback:
            pass
        if control.status_code >= 300:
            pytest.skip(
                f"control body refused ({control.status_code} "
                f"{control.content[:160].decode(errors='replace')}): no baseline to compare"
            )

    before = fingerprint(world)
    body = _body(case, world, "b", path_ids)
    sent = {v for v in body.values() if isinstance(v, str)} | {
        x for v in body.values() if isinstance(v, list) for x in v
    }
    response = send(path, body, format="json")
    text = response.content.decode("utf-8", "replace")

    # A bulk operation may answer 200 with per-item refusals; what matters
    # then is the same as everywhere: nothing of B shown, nothing written.
    allowed = (400, 404, 200) if case.many else (400, 404)
    assert response.status_code in allowed, f"{case.id}: {response.status_code} {text[:400]}"
    leaked = sorted(s for s in world.b.secrets(exclude=sent) if s in text)
    assert not leaked, f"{case.id} leaks B's data: {leaked}"
    assert fingerprint(world) == before, f"{case.id} changed data"
