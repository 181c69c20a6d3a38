"""Views of the AI endpoints (``/api/v1/ai/``): validate, call one function, serialize.

Every endpoint needs an active membership and a plan that includes AI
(402 ``feature_not_in_plan`` otherwise). Suggestions and parsing need
``time.track`` (member+: they prepare time entries); insights and summaries
are open to every member for their own data, and to ``entries.view_all``
(manager+) for other people's and the team's; rules are admin+.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.ai_services import automation, insights, selectors, services, suggestions, summaries
from apps.ai_services.models import AutomationRule, RuleRun
from apps.common.openapi import INPUT_ERRORS, PAGE_ERRORS, error_responses
from apps.common.pagination import StandardPagination
from apps.organizations.models import Membership
from apps.organizations.permissions import IsOrganizationMember, request_membership

from .serializers import (
    InsightListSerializer,
    InsightQuerySerializer,
    ParseRequestSerializer,
    ParseResponseSerializer,
    RuleCreateSerializer,
    RuleRunSerializer,
    RuleSerializer,
    RuleUpdateSerializer,
    SuggestionRequestSerializer,
    SuggestionResponseSerializer,
    SuggestionSerializer,
    SummaryRequestSerializer,
    SummaryResponseSerializer,
)

logger = logging.getLogger(__name__)

#: Refusals of ``HasAIFeature`` (every endpoint here).
_ACCESS_ERRORS = ("feature_not_in_plan", "not_a_member", "two_factor_required", "role_required")


class HasAIFeature(IsOrganizationMember):
    """Member (with the view's permission) of an organization whose plan has AI."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        membership = request_membership(request)
        assert membership is not None  # super() raised NotAMember otherwise
        services.ai_feature_check(membership.organization)
        return True


class _AIView(APIView):
    # No docstring: drf-spectacular would show it for the views without one.
    # Subclasses ``APIView`` (already in every user's MRO, so nothing changes at
    # run time) so that its attributes are checked against DRF's declarations.

    permission_classes = [HasAIFeature]

    @property
    def membership(self) -> Membership:
        membership = request_membership(self.request)
        assert membership is not None  # guaranteed by the permission class
        return membership


class SuggestionView(_AIView, APIView):
    required_permission = "time.track"

    @extend_schema(
        request=SuggestionRequestSerializer,
        responses={
            200: SuggestionResponseSerializer,
            **error_responses(*INPUT_ERRORS, *_ACCESS_ERRORS),
        },
        summary="Project/task/tag suggestions for a description",
    )
    def post(self, request: Request) -> Response:
        """Learned from this organization's history only; a cold organization
        gets frequency rules. Never suggests archived or invisible projects."""
        body = SuggestionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        found, meta = suggestions.suggest(
            body.validated_data["description"],
            actor=self.membership,
            limit=body.validated_data["limit"],
        )
        services.suggestion_model_maybe_schedule()
        return Response({"suggestions": SuggestionSerializer(found, many=True).data, **meta})


class ParseView(_AIView, APIView):
    required_permission = "time.track"

    @extend_schema(
        request=ParseRequestSerializer,
        responses={
            200: ParseResponseSerializer,
            **error_responses(*INPUT_ERRORS, *_ACCESS_ERRORS),
        },
        summary="A draft time entry from a sentence (nothing is saved)",
    )
    def post(self, request: Request) -> Response:
        body = ParseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        draft = selectors.entry_draft_from_text(
            text=body.validated_data["text"], actor=self.membership, user=request.user
        )
        return Response(ParseResponseSerializer(draft).data)


class InsightView(_AIView, APIView):
    required_permission = "projects.view"

    @extend_schema(
        parameters=[InsightQuerySerializer],
        responses={
            200: InsightListSerializer,
            **error_responses(*INPUT_ERRORS, *_ACCESS_ERRORS),
        },
        summary="Forgotten timers, overlaps, long/missing days, budgets, missing timesheets",
    )
    def get(self, request: Request) -> Response:
        """``scope=me`` (default for members) or ``team`` (manager+, their default)."""
        query = InsightQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = insights.insight_list(
            actor=self.membership,
            scope=query.validated_data.get("scope") or None,
            days=query.validated_data["days"],
        )
        return Response(
            {
                "count": len(found.results),
                "next": None,
                "previous": None,
                "scope": found.scope,
                "results": found.results,
            }
        )


class SummaryView(_AIView, APIView):
    required_permission = "projects.view"

    @extend_schema(
        request=SummaryRequestSerializer,
        responses={
            200: SummaryResponseSerializer,
            **error_responses(*INPUT_ERRORS, "does_not_exist", *_ACCESS_ERRORS),
        },
        summary="A readable summary of a person's or the team's work for a period",
    )
    def post(self, request: Request) -> Response:
        body = SummaryRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = summaries.summary_for(
            actor=self.membership,
            first=data["from"],
            last=data["to"],
            user_id=data.get("user"),
            team=data["team"],
        )
        return Response(SummaryResponseSerializer(result).data)


class RuleViewSet(
    _AIView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/ai/rules/``: automation rules (admin+), with their run log."""

    required_permission = "organization.update"
    serializer_class = RuleSerializer
    pagination_class = StandardPagination
    queryset = AutomationRule.objects.none()  # for the schema generator
    lookup_value_converter = "uuid"

    def get_queryset(self) -> QuerySet[AutomationRule]:
        return selectors.rule_list()

    def get_object(self) -> AutomationRule:
        return selectors.rule_get(rule_id=self.kwargs["pk"])

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "last_runs": getattr(self, "_last_runs", {})}

    def _load_last_runs(self, rules: list[AutomationRule]) -> None:
        runs = (
            RuleRun.objects.filter(rule__in=rules)
            .order_by("rule_id", "-started_at")
            .distinct("rule_id")
        )
        self._last_runs = {run.rule_id: run for run in runs}

    @extend_schema(
        responses={
            200: RuleSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *_ACCESS_ERRORS),
        }
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # pagination_class is set: always a page
        self._load_last_runs(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: RuleSerializer, **error_responses(*_ACCESS_ERRORS, "not_found")})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        self._load_last_runs([rule])
        return Response(self.get_serializer(rule).data)

    @extend_schema(
        request=RuleCreateSerializer,
        responses={201: RuleSerializer, **error_responses(*INPUT_ERRORS, *_ACCESS_ERRORS)},
    )
    def create(self, request: Request) -> Response:
        body = RuleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = services.rule_create(actor=self.membership, **body.validated_data)
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RuleUpdateSerializer,
        responses={
            200: RuleSerializer,
            **error_responses(*INPUT_ERRORS, *_ACCESS_ERRORS, "not_found"),
        },
    )
    def partial_update(self, request: Request, pk: uuid.UUID) -> Response:
        rule = self.get_object()
        body = RuleUpdateSerializer(data=request.data, partial=True, context={"rule": rule})
        body.is_valid(raise_exception=True)
        rule = services.rule_update(rule=rule, **body.validated_data)
        self._load_last_runs([rule])
        return Response(self.get_serializer(rule).data)

    @extend_schema(responses={204: None, **error_responses(*_ACCESS_ERRORS, "not_found")})
    def destroy(self, request: Request, pk: uuid.UUID) -> Response:
        services.rule_delete(rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses={
            200: RuleRunSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *_ACCESS_ERRORS, "not_found"),
        }
    )
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, pk: uuid.UUID) -> Response:
        """The rule's run log, newest first."""
        page = self.paginate_queryset(selectors.rule_run_list(rule=self.get_object()))
        return self.get_paginated_response(RuleRunSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={200: RuleRunSerializer, **error_responses(*_ACCESS_ERRORS, "not_found")},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: uuid.UUID) -> Response:
        """Run the rule now (as the periodic sweep would) and return the run."""
        run = automation.rule_run(self.get_object())
        return Response(RuleRunSerializer(run).data)
