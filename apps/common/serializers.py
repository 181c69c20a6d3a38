"""Typing help for the DRF serializers of the API views."""

from __future__ import annotations

from typing import TypeVar

from rest_framework.serializers import BaseSerializer

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
