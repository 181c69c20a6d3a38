"""Serializers for clients, projects, project members, milestones, dependencies
and the timeline.

They validate shapes and single values (types, choices, ``>= 0``, ids that
exist in this organization's schema); rules that need several values or the
database (dates in order, unique names, cycles, organization membership) live
in ``apps.projects.services``, which every caller goes through.

Rates are confidential: without the ``rates.view`` permission the project's
``hourly_rate`` and money budget figures and the members' rates are left out
of responses. Views put ``can_view_rates`` in the serializer context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction, extend_schema_field
from rest_framework import serializers

from apps.common import dates
from apps.common.serializers import currency_input
from apps.iam.models import User
from apps.projects.constants import ProjectRole, ProjectStatus
from apps.projects.models import Client, Milestone, Project, ProjectDependency, ProjectMember
from apps.projects.selectors import BudgetSpent
from apps.time_entries.money import project_currency

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_MONEY_FIELDS = ("hourly_rate", "budget_amount")
_ZERO = Decimal("0")
_CENT = Decimal("0.01")


def _can_view_rates(context: Mapping[str, object]) -> bool:
    return bool(context.get("can_view_rates"))


class EnumChoiceField(serializers.ChoiceField):
    """A choice field that the OpenAPI document shows as a named enum
    (``ProjectStatusEnum``, ``ProjectRoleEnum``).

    drf-spectacular names enums after the field (``status``, ``role``); other
    apps have fields of those names with other choices, which it can only
    tell apart with hashed names and a warning. Naming the component after
    the choices class keeps every app's enums stable without a settings entry.
    """

    def __init__(self, enum: type[models.TextChoices], **kwargs: Any) -> None:
        self.enum = enum
        super().__init__(choices=enum.choices, **kwargs)


class EnumChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumChoiceField

    def get_name(self) -> str:
        return f"{self.target.enum.__name__}Enum"

    def map_serializer_field(
        self, auto_schema: AutoSchema, direction: Direction
    ) -> dict[str, object]:
        enum = self.target.enum
        return {
            "type": "string",
            "enum": list(enum.values),
            "description": "\n".join(f"* `{value}` - {label}" for value, label in enum.choices),
        }


# --- clients ------------------------------------------------------------------------


class ClientSerializer(serializers.ModelSerializer):
    """A client; ``currency`` (ISO 4217, blank = the organization's) overrides
    the currency its projects are billed in."""

    class Meta:
        model = Client
        fields = [
            "id",
            "name",
            "contact_email",
            "notes",
            "currency",
            "is_archived",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "deleted_at"]

    def validate_name(self, value: str) -> str:
        return value.strip()

    def validate_currency(self, value: str) -> str:
        stored = self.instance.currency if isinstance(self.instance, Client) else None
        return currency_input(value, stored=stored, blank=True)


# --- projects -----------------------------------------------------------------------


class ProjectBudgetSerializer(serializers.Serializer):
    """Budget and consumption: ``spent_hours`` / ``spent_amount`` are the live
    totals of the project's finished, not deleted entries
    (:func:`apps.projects.selectors.project_budget_spent`; running timers are
    not counted). The view puts a ``budget_spent`` lookup in the context, so
    a page of projects costs one aggregate query."""

    hours = serializers.DecimalField(
        source="budget_hours", max_digits=10, decimal_places=2, allow_null=True, read_only=True
    )
    amount = serializers.DecimalField(
        source="budget_amount", max_digits=14, decimal_places=2, allow_null=True, read_only=True
    )
    spent_hours = serializers.SerializerMethodField()
    spent_amount = serializers.SerializerMethodField()

    def _spent(self, project: Project) -> BudgetSpent | None:
        lookup = self.context.get("budget_spent")
        return lookup.get(project) if lookup is not None else None

    @extend_schema_field(
        serializers.DecimalField(
            max_digits=12,
            decimal_places=2,
            allow_null=True,
            help_text="Hours of the project's finished entries (null only outside the API).",
        )
    )
    def get_spent_hours(self, project: Project) -> str | None:
        spent = self._spent(project)
        return None if spent is None else str(spent.hours)

    @extend_schema_field(
        serializers.DecimalField(
            max_digits=16,
            decimal_places=2,
            allow_null=True,
            help_text="Amount of those entries, in the project's `currency` (rates.view only).",
        )
    )
    def get_spent_amount(self, project: Project) -> str | None:
        spent = self._spent(project)
        return None if spent is None else str(spent.amount.quantize(_CENT))

    def to_representation(self, instance: Project) -> dict[str, object]:
        data = super().to_representation(instance)
        if not _can_view_rates(self.context):
            data.pop("amount")
            data.pop("spent_amount")
        return data


class ProjectSerializer(serializers.ModelSerializer):
    """A project as read and written through the API.

    ``client`` is the id of a live client of this organization (an unknown id,
    one from another organization or a deleted client's is a 400 on
    ``client``). ``is_archived`` is ``status == "archived"``: archived projects
    stay readable and take no new time. ``currency`` is the client's override
    or the organization's currency.
    """

    client = serializers.PrimaryKeyRelatedField(
        queryset=Client.objects.all(), allow_null=True, required=False
    )
    client_name = serializers.CharField(source="client.name", read_only=True, allow_null=True)
    status = EnumChoiceField(ProjectStatus, default=ProjectStatus.ACTIVE)
    is_archived = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    budget = ProjectBudgetSerializer(source="*", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "code",
            "client",
            "client_name",
            "description",
            "color",
            "status",
            "is_archived",
            "start_date",
            "end_date",
            "budget_hours",
            "budget_amount",
            "budget",
            "hourly_rate",
            "currency",
            "billable",
            "is_private",
            "created_by_id",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = ["id", "created_by_id", "created_at", "updated_at", "deleted_at"]
        extra_kwargs = {
            "budget_hours": {"min_value": _ZERO},
            "budget_amount": {"min_value": _ZERO},
            "hourly_rate": {"min_value": _ZERO},
            "color": {"required": False},
        }

    def get_is_archived(self, project: Project) -> bool:
        return project.status == ProjectStatus.ARCHIVED

    def get_currency(self, project: Project) -> str:
        return project_currency(project, default=self.context.get("currency", ""))

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate_color(self, value: str) -> str:
        if not _COLOR.match(value):
            raise serializers.ValidationError("Use a hex colour like #4f46e5.")
        return value.lower()

    def to_representation(self, instance: Project) -> dict[str, object]:
        data = super().to_representation(instance)
        if not _can_view_rates(self.context):
            for field in _MONEY_FIELDS:
                data.pop(field)
        return data


class TimelineRowSerializer(serializers.Serializer):
    """A project on ``GET /projects/timeline/``.

    ``earliest_start`` is the latest earliest-finish of its predecessors (a
    delay upstream pushes everything after it); ``blocked`` means the planned
    ``start_date`` is before it.
    """

    id = serializers.UUIDField()
    name = serializers.CharField()
    status = EnumChoiceField(ProjectStatus)
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    earliest_start = serializers.DateField(allow_null=True)
    earliest_finish = serializers.DateField(allow_null=True)
    depends_on = serializers.ListField(child=serializers.UUIDField())
    blocked = serializers.BooleanField()


# --- members ------------------------------------------------------------------------


class ProjectMemberCreateSerializer(serializers.Serializer):
    """Input of ``POST /projects/{id}/members/``: ``user`` is a user id, and that
    user must be an active member of the organization."""

    user = serializers.UUIDField()
    role = EnumChoiceField(ProjectRole, default=ProjectRole.MEMBER)
    hourly_rate = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=_ZERO, allow_null=True, required=False
    )


class ProjectMemberUpdateSerializer(serializers.Serializer):
    """Input of ``PATCH /projects/{id}/members/{member_id}/``."""

    role = EnumChoiceField(ProjectRole, required=False)
    hourly_rate = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=_ZERO, allow_null=True, required=False
    )


class ProjectMemberSerializer(serializers.ModelSerializer):
    """A project member with the user's name and email.

    Users live in the public schema: the view looks up a whole page of them in
    one query and passes them as ``context["users"]`` (``{user_id: user}``).
    """

    user = serializers.UUIDField(source="user_id", read_only=True)
    role = EnumChoiceField(ProjectRole, read_only=True)
    email = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()

    class Meta:
        model = ProjectMember
        fields = ["id", "project", "user", "email", "name", "role", "hourly_rate", "created_at"]
        read_only_fields = fields

    def _user(self, member: ProjectMember) -> User | None:
        users: Mapping[UUID, User] = self.context.get("users", {})
        return users.get(member.user_id)

    def get_email(self, member: ProjectMember) -> str | None:
        user = self._user(member)
        return user.email if user else None

    def get_name(self, member: ProjectMember) -> str | None:
        user = self._user(member)
        return f"{user.first_name} {user.last_name}".strip() if user else None

    def to_representation(self, instance: ProjectMember) -> dict[str, object]:
        data = super().to_representation(instance)
        if not _can_view_rates(self.context):
            data.pop("hourly_rate")
        return data


# --- milestones ---------------------------------------------------------------------


class MilestoneSerializer(serializers.ModelSerializer):
    """A milestone as read: ``completed`` is ``completed_at is not null``."""

    completed = serializers.SerializerMethodField()

    class Meta:
        model = Milestone
        fields = [
            "id",
            "project",
            "name",
            "due_date",
            "completed",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_completed(self, milestone: Milestone) -> bool:
        return milestone.completed_at is not None


class MilestoneInputSerializer(serializers.Serializer):
    """Input of POST (all of it) and PATCH (any of it) on milestones; writing
    ``completed`` sets (``true``) or clears (``false``) ``completed_at``."""

    name = serializers.CharField(max_length=200)
    due_date = dates.DateField()
    completed = serializers.BooleanField(required=False)


# --- dependencies -------------------------------------------------------------------


class ProjectDependencyCreateSerializer(serializers.Serializer):
    """Input of ``POST /projects/{id}/dependencies/``: ``depends_on`` is a live
    project the caller may see (else 400 on ``depends_on``)."""

    depends_on = serializers.PrimaryKeyRelatedField(queryset=Project.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        projects = self.context.get("visible_projects")
        if projects is not None:
            depends_on = cast(
                "serializers.PrimaryKeyRelatedField[Project]", self.fields["depends_on"]
            )
            # The stubs give ``queryset`` a type with Manager in it, whose __get__
            # makes mypy check this plain attribute as a descriptor.
            depends_on.queryset = projects  # type: ignore[arg-type]


class ProjectDependencySerializer(serializers.ModelSerializer):
    """A finish-to-start link: ``project`` starts after ``depends_on`` ends."""

    depends_on_name = serializers.CharField(source="depends_on.name", read_only=True)

    class Meta:
        model = ProjectDependency
        fields = ["id", "project", "depends_on", "depends_on_name", "created_at"]
        read_only_fields = fields
