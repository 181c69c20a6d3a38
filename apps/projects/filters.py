"""Filter sets (django-filter) for the client and project lists.

Both lists can show the trash: ``?deleted=true`` lists soft-deleted rows
(what ``restore`` takes), ``?deleted=false`` or no parameter the live ones.
Orderings end with the id, so that rows sharing a name or date never swap
places between pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db.models import Model, Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.constants import EMPTY_VALUES

from apps.projects.constants import ProjectStatus
from apps.projects.models import Client, Project

_M = TypeVar("_M", bound=Model)


class StableOrderingFilter(filters.OrderingFilter):
    """``?ordering=-start_date,name``, then ``id`` as the tie-breaker."""

    def filter(self, qs: QuerySet[_M], value: Sequence[str] | None) -> QuerySet[_M]:
        if value is None or value in EMPTY_VALUES:
            return qs
        return qs.order_by(*(self.get_ordering_value(param) for param in value), "id")


class TrashFilterSet(filters.FilterSet):
    """Live rows unless ``?deleted=true`` asks for the trash.

    The view hands over live and deleted rows together (for the list only);
    this is the single place that picks one of the two.
    """

    deleted = filters.BooleanFilter(
        method="filter_deleted", help_text="true: the soft-deleted rows (the trash) instead."
    )

    def filter_queryset(self, queryset: QuerySet[_M]) -> QuerySet[_M]:
        if self.form.cleaned_data.get("deleted") is None:
            queryset = queryset.filter(deleted_at__isnull=True)
        return super().filter_queryset(queryset)

    def filter_deleted(self, queryset: QuerySet[_M], name: str, value: bool) -> QuerySet[_M]:
        return queryset.filter(deleted_at__isnull=not value)


class ClientFilter(TrashFilterSet):
    search = filters.CharFilter(method="filter_search", help_text="Name contains (any case).")
    archived = filters.BooleanFilter(field_name="is_archived")
    ordering = StableOrderingFilter(fields=("name", "created_at"))

    class Meta:
        model = Client
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[Client], name: str, value: str) -> QuerySet[Client]:
        return queryset.filter(name__icontains=value)


class ProjectFilter(TrashFilterSet):
    status = filters.MultipleChoiceFilter(
        choices=ProjectStatus.choices,
        distinct=False,  # a column of the row itself: no DISTINCT sort needed
        help_text="Repeat for several: ?status=active&status=planned",
    )
    client = filters.UUIDFilter(field_name="client_id")
    search = filters.CharFilter(
        method="filter_search", help_text="Name or code contains (any case)."
    )
    is_private = filters.BooleanFilter()
    archived = filters.BooleanFilter(
        method="filter_archived", help_text="true: archived only; false: all but archived."
    )
    ordering = StableOrderingFilter(fields=("name", "created_at", "start_date", "end_date"))

    class Meta:
        model = Project
        fields: list[str] = []

    def filter_search(
        self, queryset: QuerySet[Project], name: str, value: str
    ) -> QuerySet[Project]:
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value))

    def filter_archived(
        self, queryset: QuerySet[Project], name: str, value: bool
    ) -> QuerySet[Project]:
        archived = Q(status=ProjectStatus.ARCHIVED)
        return queryset.filter(archived) if value else queryset.exclude(archived)
