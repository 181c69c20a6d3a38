"""Two organizations full of data, for the isolation matrix.

``build_world`` seeds every tenant model in both session organizations
(``acme`` = A, the one attacked; ``globex`` = B, the other one) without naming
the models: each tenant app's ``tests/factories.py`` is imported and every
factory of a tenant model is called once per organization; a tenant model that
no factory produced is then built by ``autofill`` (required fields filled from
their types). Every text column of every seeded row is then overwritten with
a unique marker, so a response body can be searched for the other
organization's data: its markers, its row ids and its members' ids/emails.

Everything is written inside the test's transaction (rolled back afterwards).
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import factory
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.iam.tests.factories import UserFactory
from apps.organizations.models import Membership, Organization
from apps.organizations.tests.factories import MembershipFactory
from tests.isolation.endpoints import Endpoint, model_candidates, param_is_uuid

log = logging.getLogger(__name__)
MARKER_MIN_LENGTH = 16


def tenant_models() -> list[type[models.Model]]:
    """Concrete models of the tenant apps (auto-created m2m tables included)."""
    labels = {django_apps.get_app_config(a.rsplit(".", 1)[-1]).label for a in _tenant_app_names()}
    return [
        m
        for m in django_apps.get_models(include_auto_created=True)
        if m._meta.app_label in labels and not m._meta.abstract and not m._meta.proxy
    ]


def organization_scoped_shared_models() -> list[type[models.Model]]:
    """Public-schema models that belong to one organization (a FK to it)."""
    tenant_labels = {m._meta.label for m in tenant_models()}
    out = []
    for m in django_apps.get_models():
        if m._meta.label in tenant_labels or m is Organization:
            continue
        if any(
            isinstance(f, models.ForeignKey) and f.related_model is Organization
            for f in m._meta.concrete_fields
        ):
            out.append(m)
    return out


def _tenant_app_names() -> list[str]:
    shared = set(settings.SHARED_APPS)
    return [a for a in settings.TENANT_APPS if a not in shared]


def app_factories() -> list[type[factory.django.DjangoModelFactory]]:
    """Every ``DjangoModelFactory`` defined in a tenant app's tests/factories.py
    whose model is a tenant model."""
    labels = {m._meta.label for m in tenant_models()}
    found = []
    for app in _tenant_app_names():
        try:
            module = importlib.import_module(f"{app}.tests.factories")
        except ModuleNotFoundError:
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, factory.django.DjangoModelFactory)
                and obj.__module__ == module.__name__
                and obj._meta.model is not None
                and obj._meta.model._meta.label in labels
            ):
                found.append(obj)
    return found


@dataclass
class Side:
    """What one organization holds after seeding."""

    tenant: Any
    ids: dict[str, list[str]] = field(default_factory=dict)  # model name → row ids
    markers: set[str] = field(default_factory=set)
    member_values: set[str] = field(default_factory=set)  # user ids and emails
    failures: list[str] = field(default_factory=list)

    def secrets(self, exclude: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
        values = self.markers | self.member_values
        for ids in self.ids.values():
            values |= set(ids)
        return values - exclude


@dataclass
class World:
    a: Side
    b: Side
    both_owner: Membership  # owner of A who is also owner of B
    b_owner: Membership  # owner of B only
    a_viewer: Membership

    def id_for(self, side: Side, endpoint: Endpoint, name: str) -> str | None:
        model = model_for_param(endpoint, name, side)
        if model is None:
            return None
        return side.ids[model][0]


def model_for_param(endpoint: Endpoint, name: str, side: Side) -> str | None:
    """The seeded model (lower-case name) whose ids a path parameter takes."""
    if not param_is_uuid(endpoint, name):
        return None
    candidates = model_candidates(endpoint, name)
    if name in ("pk", "id") and name == endpoint.params[-1][0]:
        queryset = getattr(endpoint.view, "queryset", None)
        if queryset is not None:
            candidates.insert(0, queryset.model._meta.model_name)
    names = [n for n, ids in side.ids.items() if ids]
    for candidate in candidates:
        if candidate in names:
            return candidate
        if candidate in _known_model_names():
            return None  # the right model exists but has no seeded rows: reported
    for candidate in candidates:  # member → membership, channel → chatchannel
        close = [n for n in names if n.startswith(candidate) or n.endswith(candidate)]
        if len(close) >= 1:
            return sorted(close, key=len)[0]
    return None


def _known_model_names() -> set[str]:
    return {m._meta.model_name for m in django_apps.get_models(include_auto_created=True)}


def _marker(tag: str) -> str:
    return f"{tag}{secrets.token_hex(6)}"  # e.g. "isoAk3f9...": unique, searchable


def _autofill(model: type[models.Model], user_id: Any, made: dict[str, Any]) -> Any:
    """A row of ``model`` with every required field filled from its type."""
    now = timezone.now()
    kwargs: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if f.primary_key or f.null or f.has_default() or getattr(f, "auto_now", False):
            continue
        if getattr(f, "auto_now_add", False):
            continue
        if isinstance(f, models.ForeignKey):
            # Two FKs to one model (a dependency, say) get two different rows.
            related = f.related_model
            taken = [v.pk for v in kwargs.values() if isinstance(v, related)]
            instance = related._base_manager.exclude(pk__in=taken).first()
            if instance is None:
                instance = made.get(related._meta.label) if not taken else None
            if instance is None:
                instance = _autofill(related, user_id, made)
            kwargs[f.name] = instance
        elif f.choices:
            kwargs[f.name] = f.choices[0][0]
        elif isinstance(f, models.UUIDField):
            kwargs[f.name] = user_id
        elif isinstance(f, ArrayField):
            kwargs[f.name] = []
        elif isinstance(f, models.JSONField):
            kwargs[f.name] = {}
        elif isinstance(f, models.EmailField):
            kwargs[f.name] = f"{secrets.token_hex(4)}@autofill.test"
        elif isinstance(f, models.CharField | models.TextField):
            kwargs[f.name] = secrets.token_hex(min(8, (f.max_length or 16) // 2))
        elif isinstance(f, models.BooleanField):
            kwargs[f.name] = False
        elif isinstance(f, models.IntegerField):
            kwargs[f.name] = 1
        elif isinstance(f, models.DecimalField):
            kwargs[f.name] = Decimal("1")
        elif isinstance(f, models.FloatField):
            kwargs[f.name] = 1.0
        elif isinstance(f, models.DateTimeField):
            starts = f.name.startswith(("start", "begin", "from"))
            kwargs[f.name] = now - datetime.timedelta(hours=3 if starts else 1)
        elif isinstance(f, models.DateField):
            ends = f.name.endswith(("end", "_to", "until")) or f.name.startswith("end")
            kwargs[f.name] = now.date() + datetime.timedelta(days=6 if ends else 0)
        elif isinstance(f, models.DurationField):
            kwargs[f.name] = datetime.timedelta(minutes=5)
    instance = model._base_manager.create(**kwargs)
    made[model._meta.label] = instance
    return instance


def _try(side: Side, what: str, fn: Any) -> Any:
    try:
        with transaction.atomic():
            return fn()
    except Exception as exc:  # recorded: the coverage test names what failed
        side.failures.append(f"{what}: {type(exc).__name__}: {exc}".splitlines()[0][:300])
        return None


def _seed_side(side: Side, tag: str, member: Membership) -> None:
    made: dict[str, Any] = {}
    with tenant_context(side.tenant):
        for factory_cls in app_factories():
            _try(side, factory_cls.__name__, factory_cls.create)
        for model in tenant_models():
            if not model._base_manager.exists():
                _try(
                    side,
                    f"autofill {model._meta.label}",
                    lambda m=model: _autofill(m, member.user_id, made),
                )
        for model in tenant_models():
            _collect(side, model, model._base_manager.all(), tag)
    for model in organization_scoped_shared_models():
        rel = next(
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.ForeignKey) and f.related_model is Organization
        )
        queryset = model._base_manager.filter(**{rel: side.tenant})
        # One-to-one rows (a subscription) are the organization's configuration,
        # not content: an invented one would change what the organization may do.
        singleton = isinstance(model._meta.get_field(rel), models.OneToOneField)
        if not singleton and not queryset.exists():
            _try(
                side,
                f"autofill {model._meta.label}",
                lambda m=model, r=rel: _autofill_shared(m, r, side.tenant, member.user_id, made),
            )
        # Public rows (domains, memberships...) are tenancy plumbing: ids only, no markers.
        _collect(side, model, model._base_manager.filter(**{rel: side.tenant}), tag, mark=False)
    for membership in Membership.objects.filter(organization=side.tenant).select_related("user"):
        side.member_values |= {str(membership.user_id), membership.user.email}


def _autofill_shared(model: Any, rel: str, tenant: Any, user_id: Any, made: dict[str, Any]) -> Any:
    made["organizations.Organization"] = tenant
    from django.contrib.auth import get_user_model

    made[get_user_model()._meta.label] = get_user_model().objects.get(pk=user_id)
    instance = _autofill(model, user_id, made)
    model._base_manager.filter(pk=instance.pk).update(**{rel: tenant})
    return instance


def _collect(side: Side, model: Any, queryset: Any, tag: str, *, mark: bool = True) -> None:
    """Record the rows' ids and overwrite their free-text columns with markers."""
    text_fields = (
        []
        if not mark
        else [
            f
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField)
            and not f.choices
            and not f.primary_key
            and not isinstance(f, models.EmailField | models.URLField | models.SlugField)
            and (f.max_length is None or f.max_length >= MARKER_MIN_LENGTH)
            and not f.name.endswith(("hash", "token", "key", "secret", "password"))
        ]
    )
    ids = []
    for row in queryset:
        if isinstance(row.pk, uuid.UUID):
            ids.append(str(row.pk))
        for f in text_fields:
            marker = _marker(tag)
            done = _try(
                side,
                f"mark {model._meta.label}.{f.name}",
                lambda f=f, row=row, marker=marker: model._base_manager.filter(pk=row.pk).update(
                    **{f.name: marker}
                ),
            )
            if done:
                side.markers.add(marker)
    if ids:
        side.ids[model._meta.model_name] = ids


def build_world(tenant: Any, other_tenant: Any) -> World:
    """Seed A (``tenant``) and B (``other_tenant``) and create the attackers."""
    both = UserFactory(email=f"both-{secrets.token_hex(4)}@iso.test")
    both_owner = MembershipFactory(organization=tenant, user=both, role="owner")
    MembershipFactory(organization=other_tenant, user=both, role="owner")
    b_owner = MembershipFactory(
        organization=other_tenant, role="owner", user=UserFactory(email=_email("b-owner"))
    )
    a_viewer = MembershipFactory(
        organization=tenant, role="viewer", user=UserFactory(email=_email("a-viewer"))
    )
    a_member = MembershipFactory(
        organization=tenant, role="member", user=UserFactory(email=_email("a-member"))
    )
    b_member = MembershipFactory(
        organization=other_tenant, role="member", user=UserFactory(email=_email("b-member"))
    )
    a, b = Side(tenant), Side(other_tenant)
    _seed_side(a, "isoA", a_member)
    _seed_side(b, "isoB", b_member)
    # The attackers' own identities are not the other side's secrets.
    for side in (a, b):
        side.member_values -= {str(both.pk), both.email}
    connection.set_schema_to_public()
    return World(a=a, b=b, both_owner=both_owner, b_owner=b_owner, a_viewer=a_viewer)


def _email(who: str) -> str:
    return f"{who}-{secrets.token_hex(4)}@iso.test"


def fingerprint(world: World) -> dict[str, str]:
    """An md5 of every row of every tenant table in A and B, and of the
    organization-scoped public rows of both: equal before and after a refused
    write means the write changed nothing."""
    parts = []
    for side in (world.a, world.b):
        schema = side.tenant.schema_name
        for model in tenant_models():
            table = model._meta.db_table
            parts.append(
                f"SELECT '{schema}.{table}', md5(coalesce(string_agg(t::text, '|' "
                f'ORDER BY t::text), \'\')) FROM "{schema}"."{table}" t'
            )
    org_ids = ", ".join(f"'{side.tenant.pk}'" for side in (world.a, world.b))
    for model in organization_scoped_shared_models():
        column = next(
            f.column
            for f in model._meta.concrete_fields
            if isinstance(f, models.ForeignKey) and f.related_model is Organization
        )
        table = model._meta.db_table
        parts.append(
            f"SELECT 'public.{table}', md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
            f'\'\')) FROM public."{table}" t WHERE t."{column}"::text IN ({org_ids})'
        )
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        return dict(cursor.fetchall())


def public_snapshot() -> dict[str, set[Any]]:
    """Primary keys of the public rows seeding may add to (users and the
    organization-scoped models), to delete exactly those afterwards."""
    from django.contrib.auth import get_user_model

    out = {"user": set(get_user_model()._base_manager.values_list("pk", flat=True))}
    for model in organization_scoped_shared_models():
        out[model._meta.label] = set(model._base_manager.values_list("pk", flat=True))
    return out


def tenant_rows(tenant: Any) -> int:
    with tenant_context(tenant):
        return sum(m._base_manager.count() for m in tenant_models())


def clean_up(tenants: list[Any], before: dict[str, set[Any]]) -> None:
    """Empty the tenant tables of ``tenants`` (empty before seeding) and delete
    the public rows seeding added."""
    from django.contrib.auth import get_user_model

    tables = ", ".join(
        f'"{t.schema_name}"."{m._meta.db_table}"' for t in tenants for m in tenant_models()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")
    for model in organization_scoped_shared_models():
        model._base_manager.exclude(pk__in=before[model._meta.label]).filter(
            pk__in=list(
                set(model._base_manager.values_list("pk", flat=True)) - before[model._meta.label]
            )
        ).delete()
    user_model = get_user_model()
    new_users = set(user_model._base_manager.values_list("pk", flat=True)) - before["user"]
    user_model._base_manager.filter(pk__in=new_users).delete()
    connection.set_schema_to_public()
