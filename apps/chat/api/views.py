"""Chat views: thin — validate, call one service or selector, serialize.

Reads are open to every member (viewers included) within what they may see;
writes need ``chat.write`` (member+: viewers get 403 ``role_required`` before
their input is looked at), except the read marker, which is part of reading.
Finer rules (authors, channel creators, admins) live in the services. Each
operation documents the error codes it answers (``error_responses``).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ErrorDetail, NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.chat import selectors
from apps.chat.models import Channel, ChannelMember, Message
from apps.chat.services import channels, messages
from apps.common.dates import DateOutOfRange, utc_instant
from apps.common.errors import ApplicationError
from apps.common.openapi import (
    INPUT_ERRORS,
    MEMBER_ERRORS,
    PAGE_ERRORS,
    WRITE_ERRORS,
    error_responses,
)
from apps.common.pagination import StandardPagination, page_size
from apps.organizations.models import Membership
from apps.organizations.permissions import IsOrganizationMember, required_membership

from .serializers import (
    ChannelCreateSerializer,
    ChannelMemberSerializer,
    ChannelSerializer,
    ChannelUpdateSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    MessageUpdateSerializer,
    ReactionCreateSerializer,
    ReactionSerializer,
    ReadMarkerOutSerializer,
    ReadMarkerSerializer,
    UserRefSerializer,
)

#: Mentions in a message body: members who can see the channel.
_MENTIONS = ("not_an_organization_member", "user_cannot_see_channel")


class _ChatView(APIView):
    """``self.actor`` and channel lookup for the chat views. Every member reads;
    writing needs ``chat.write`` unless a view lifts it (the read marker)."""

    kwargs: dict[str, Any]
    permission_classes = [IsOrganizationMember]
    write_permission: str | None = "chat.write"

    @property
    def actor(self) -> Membership:
        return required_membership(self.request)  # the permission class requires one

    def channel(self) -> Channel:
        return selectors.channel_get_for_member(
            actor=self.actor, channel_id=self.kwargs["channel_id"]
        )

    def message(self) -> Message:
        return selectors.message_get_for_member(
            actor=self.actor, message_id=self.kwargs["message_id"]
        )

    def channel_out(self, channel: Channel, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.channel_list(actor=self.actor).get(pk=channel.pk)
        context = {"user_id": self.actor.user_id}
        return Response(ChannelSerializer(fresh, context=context).data, status=code)

    def message_out(self, message: Message, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.message_with_reactions(message_id=message.pk)
        return Response(MessageSerializer(fresh).data, status=code)


class ChannelListView(_ChatView, generics.GenericAPIView):
    pagination_class = StandardPagination
    serializer_class = ChannelSerializer
    queryset = Channel.objects.none()  # for the schema generator; see get_queryset

    def get_queryset(self) -> QuerySet[Channel]:
        return selectors.channel_list(actor=self.actor)

    @extend_schema(
        responses={
            200: ChannelSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        },
        summary="Channels the caller may see, with unread counts",
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        context = {"user_id": self.actor.user_id}
        return self.get_paginated_response(ChannelSerializer(page, many=True, context=context).data)

    @extend_schema(
        request=ChannelCreateSerializer,
        responses={
            201: ChannelSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "does_not_exist",
                "not_an_organization_member",
                *WRITE_ERRORS,
                "channel_name_taken",
                "project_channel_exists",
            ),
        },
        summary="Create a public, private or project channel",
    )
    def post(self, request: Request) -> Response:
        body = ChannelCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = channels.channel_create(actor=self.actor, **body.validated_data)
        return self.channel_out(channel, status.HTTP_201_CREATED)


class ChannelDetailView(_ChatView, APIView):
    @extend_schema(
        responses={200: ChannelSerializer, **error_responses(*MEMBER_ERRORS, "not_found")},
        summary="A channel",
    )
    def get(self, request: Request, channel_id: uuid.UUID) -> Response:
        return self.channel_out(self.channel())

    @extend_schema(
        request=ChannelUpdateSerializer,
        responses={
            200: ChannelSerializer,
            **error_responses(
                *INPUT_ERRORS, *WRITE_ERRORS, "not_found", "channel_name_taken", "direct_channel"
            ),
        },
        summary="Rename / re-topic (creator or admin)",
    )
    def patch(self, request: Request, channel_id: uuid.UUID) -> Response:
        body = ChannelUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        channel = channels.channel_update(
            actor=self.actor, channel=self.channel(), **body.validated_data
        )
        return self.channel_out(channel)


class ChannelMembersView(_ChatView, generics.GenericAPIView):
    pagination_class = StandardPagination
    serializer_class = ChannelMemberSerializer
    queryset = ChannelMember.objects.none()  # for the schema generator

    @extend_schema(
        responses={
            200: ChannelMemberSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        },
        summary="Members (and read markers) of a channel",
    )
    def get(self, request: Request, channel_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(selectors.channel_members(channel=self.channel()))
        return self.get_paginated_response(ChannelMemberSerializer(page, many=True).data)

    @extend_schema(
        request=UserRefSerializer,
        responses={
            201: ChannelMemberSerializer,
            200: ChannelMemberSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "not_an_organization_member",
                *WRITE_ERRORS,
                "not_found",
                "channel_members_fixed",
            ),
        },
        summary="Add a member to a private channel, or join a public one",
    )
    def post(self, request: Request, channel_id: uuid.UUID) -> Response:
        body = UserRefSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member, created = channels.channel_member_add(
            actor=self.actor, channel=self.channel(), user_id=body.validated_data["user"]
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ChannelMemberSerializer(member).data, status=code)


class DirectChannelView(_ChatView, APIView):
    @extend_schema(
        request=UserRefSerializer,
        responses={
            201: ChannelSerializer,
            200: ChannelSerializer,
            **error_responses(*INPUT_ERRORS, "not_an_organization_member", *WRITE_ERRORS),
        },
        summary="The direct channel with a user (created once; idempotent)",
    )
    def post(self, request: Request) -> Response:
        body = UserRefSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel, created = channels.direct_open(
            actor=self.actor, user_id=body.validated_data["user"]
        )
        return self.channel_out(channel, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MessageCursorPagination(CursorPagination):
    """Newest first; the cursor is opaque and stable while messages arrive."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        return page_size(request, self)

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor, whose position (a ``created_at`` the client can
        rewrite: the cursor is only base64) must be an instant with offset
        that :func:`~apps.common.dates.utc_instant` accepts; else 404
        "Invalid cursor", as DRF answers any cursor it cannot read."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            value = parse_datetime(str(cursor.position))
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            raise NotFound(self.invalid_cursor_message)
        try:
            position = utc_instant(value).isoformat()  # the stubs type positions int
            return cursor._replace(position=position)  # type: ignore[arg-type]
        except DateOutOfRange as exc:
            raise NotFound(self.invalid_cursor_message) from exc


_HISTORY_PARAMETERS = [
    OpenApiParameter("parent", OpenApiTypes.UUID, description="A thread's replies."),
    OpenApiParameter("search", OpenApiTypes.STR, description="Text contained in the body."),
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description="Catch-up after a reconnect: an ISO 8601 instant or a message id; "
        "returns messages created or changed after it, deleted ones as tombstones.",
    ),
]


class ChannelMessagesView(_ChatView, generics.GenericAPIView):
    pagination_class = MessageCursorPagination
    serializer_class = MessageSerializer
    queryset = Message.objects.none()  # for the schema generator

    def _since(self, channel: Channel) -> tuple[datetime.datetime | None, uuid.UUID | None]:
        raw = self.request.query_params.get("since")
        if not raw:
            return None, None
        try:
            message_id = uuid.UUID(raw)
        except ValueError:
            message_id = None
        if message_id is not None:
            anchor = Message.all_objects.filter(pk=message_id, channel=channel).first()
            if anchor is not None:
                return anchor.created_at, anchor.pk
        else:
            try:
                value = parse_datetime(raw)
            except ValueError:
                value = None
            if value is not None and value.tzinfo is not None:
                try:  # the window, and an offset PostgreSQL takes (apps.common.dates)
                    return utc_instant(value), None
                except DateOutOfRange as exc:
                    raise serializers.ValidationError(
                        {"since": [ErrorDetail(str(exc), code=exc.code)]}
                    ) from exc
        raise ApplicationError(
            "`since` is an ISO 8601 instant with offset, or a message id of this channel.",
            code="invalid",
            extra={"fields": {"since": ["Invalid."]}},
        )

    def _parent(self) -> uuid.UUID | None:
        raw = self.request.query_params.get("parent")
        if not raw:
            return None
        try:
            return uuid.UUID(raw)
        except ValueError as error:
            raise ApplicationError(
                "`parent` is a message id.",
                code="invalid",
                extra={"fields": {"parent": ["Invalid."]}},
            ) from error

    @extend_schema(
        parameters=_HISTORY_PARAMETERS,
        responses={
            200: MessageSerializer(many=True),
            **error_responses(*PAGE_ERRORS, "date_out_of_range", *MEMBER_ERRORS),
        },
        summary="History, newest first (cursor pagination)",
    )
    def get(self, request: Request, channel_id: uuid.UUID) -> Response:
        channel = self.channel()
        since, since_exclude = self._since(channel)
        query = selectors.message_list(
            channel=channel,
            parent_id=self._parent(),
            search=(request.query_params.get("search") or "").strip() or None,
            since=since,
            since_exclude=since_exclude,
        )
        page = self.paginate_queryset(query)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        request=MessageCreateSerializer,
        responses={
            201: MessageSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "does_not_exist",
                "invalid_parent",
                *_MENTIONS,
                *WRITE_ERRORS,
                "not_found",
            ),
        },
        summary="Post a message (markdown), or reply in a thread",
    )
    def post(self, request: Request, channel_id: uuid.UUID) -> Response:
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = messages.message_create(
            actor=self.actor, channel=self.channel(), **body.validated_data
        )
        return self.message_out(message, status.HTTP_201_CREATED)


class ChannelReadView(_ChatView, APIView):
    write_permission = None  # viewers keep read markers: reading is what they do

    @extend_schema(
        request=ReadMarkerSerializer,
        responses={
            200: ReadMarkerOutSerializer,
            **error_responses(*INPUT_ERRORS, "does_not_exist", *MEMBER_ERRORS, "not_found"),
        },
        summary="Move the caller's read marker (never backwards)",
    )
    def post(self, request: Request, channel_id: uuid.UUID) -> Response:
        body = ReadMarkerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member: ChannelMember = messages.channel_mark_read(
            actor=self.actor, channel=self.channel(), message_id=body.validated_data["message"]
        )
        return Response(ReadMarkerOutSerializer(member).data)


class MessageDetailView(_ChatView, APIView):
    @extend_schema(
        responses={200: MessageSerializer, **error_responses(*MEMBER_ERRORS, "not_found")},
        summary="A message",
    )
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        return self.message_out(self.message())

    @extend_schema(
        request=MessageUpdateSerializer,
        responses={
            200: MessageSerializer,
            **error_responses(*INPUT_ERRORS, *_MENTIONS, *WRITE_ERRORS, "not_author", "not_found"),
        },
        summary="Edit a message (author only)",
    )
    def patch(self, request: Request, message_id: uuid.UUID) -> Response:
        body = MessageUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = messages.message_update(
            actor=self.actor, message=self.message(), body=body.validated_data["body"]
        )
        return self.message_out(message)

    @extend_schema(
        responses={204: None, **error_responses(*WRITE_ERRORS, "not_author", "not_found")},
        summary="Soft-delete a message (author, or an admin)",
    )
    def delete(self, request: Request, message_id: uuid.UUID) -> Response:
        # Admins moderate: the write-role check is the service's (author path).
        messages.message_delete(actor=self.actor, message=self.message())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageReactionsView(_ChatView, APIView):
    @extend_schema(
        request=ReactionCreateSerializer,
        responses={
            201: ReactionSerializer,
            200: ReactionSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found"),
        },
        summary="React to a message (idempotent per user and emoji)",
    )
    def post(self, request: Request, message_id: uuid.UUID) -> Response:
        body = ReactionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reaction, created = messages.reaction_add(
            actor=self.actor, message=self.message(), emoji=body.validated_data["emoji"]
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ReactionSerializer(reaction).data, status=code)


class MessageReactionDetailView(_ChatView, APIView):
    @extend_schema(
        responses={204: None, **error_responses("invalid_characters", *WRITE_ERRORS, "not_found")},
        summary="Remove one's own reaction",
    )
    def delete(self, request: Request, message_id: uuid.UUID, emoji: str) -> Response:
        messages.reaction_remove(actor=self.actor, message=self.message(), emoji=emoji)
        return Response(status=status.HTTP_204_NO_CONTENT)
