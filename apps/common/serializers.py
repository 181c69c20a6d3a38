"""Helpers for the DRF serializers of the API views: typing, and a cheaper
representation for the hot paths."""

from __future__ import annotations

from typing import Any, TypeVar

from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.serializers import BaseSerializer

from apps.common import dates

_T = TypeVar("_T")


def bound_instance(serializer: BaseSerializer[_T]) -> _T:
    """The object an update serializer was built on.

    ``UpdateModelMixin.update()`` always builds the serializer on
    ``get_object()``; the stubs allow ``None`` there (a create serializer has
    no object), so ``perform_update`` overrides read it through here.
    """
    instance = serializer.instance
    if instance is None:
        raise TypeError(f"{type(serializer).__name__} is not bound to an object")
    return instance


#: Field classes whose ``get_attribute``/``to_representation`` read nothing
#: of their serializer (no context, no parent) and change nothing on
#: themselves: one bound instance may serve every serializer of a class, on
#: any thread. Exact classes: a subclass may read its context (as
#: ``OrgDateTimeField`` does, for input).
_SHAREABLE: tuple[type[serializers.Field], ...] = (
    serializers.BigIntegerField,
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateTimeField,
    serializers.DecimalField,
    serializers.IntegerField,
    serializers.ReadOnlyField,
    serializers.UUIDField,
    # the bounded date fields ModelSerializer builds (apps.common.dates):
    # they only add an input check
    dates.DateField,
    dates.DateTimeField,
)


def _shareable(field: serializers.Field) -> bool:
    if isinstance(field, serializers.ListField):
        return type(field) is serializers.ListField and _shareable(field.child)
    return type(field) in _SHAREABLE


class SharedReadFieldsMixin:
    """Serializes with fields built once per class instead of once per call.

    DRF builds a serializer's fields anew for every serializer instance (a
    model serializer introspects its model each time too), then binds them
    to it: for a 21-field time entry that was 0.9 ms of the 1 ms it took to
    serialize one, on every timer start and stop. The fields are the same
    every time, so ``to_representation`` here uses one set per class, built
    and bound once, for every field that reads nothing of its serializer
    (``_SHAREABLE``); ``SerializerMethodField``s call the method on the
    serializer at hand. Output is DRF's own, field by field (a test compares
    the two); a class with any other readable field keeps DRF's path.
    ``self.fields`` (input, the OpenAPI schema) is untouched.
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = type(self).__dict__.get("_shared_read_plan")
        if plan is None:
            plan = self._build_shared_read_plan()
        if plan is False:
            return super().to_representation(instance)  # type: ignore[misc]
        ret: dict[str, Any] = {}
        for name, field, method in plan:
            if method is not None:
                ret[name] = getattr(self, method)(instance)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check is None else field.to_representation(attribute)
        return ret

    def _build_shared_read_plan(self) -> Any:
        cls = type(self)
        prototype = cls(context={})  # type: ignore[call-arg]  # a Serializer; holds no data
        plan: Any = []
        for field in prototype._readable_fields:  # type: ignore[attr-defined]
            if isinstance(field, serializers.SerializerMethodField):
                plan.append((field.field_name, None, field.method_name))
            elif _shareable(field):
                plan.append((field.field_name, field, None))
            else:
                plan = False
                break
        cls._shared_read_plan = plan  # type: ignore[attr-defined]
        return plan


def currency_input(value: str, *, stored: str | None, blank: bool) -> str:
    """A currency typed into an API field: upper-cased and checked against
    ISO 4217 (``apps.common.validators.validate_currency``), except when it is
    ``stored``, the row's current value: a code withdrawn since it was stored
    stays valid on its row until it changes (``apps.common.currencies``).
    ``blank``: whether no currency is allowed (a client may have none; an
    organization may not)."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    from apps.common.validators import validate_currency

    value = value.strip().upper()
    if value != stored and (value or not blank):
        try:
            validate_currency(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from exc
    return value
