"""Serializers for chat. Input serializers validate shapes only; visibility,
membership and authorship rules live in the services. Output serializers read
what the selectors loaded (annotations, prefetched reactions)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from apps.chat.constants import MAX_EMOJI_LENGTH, MAX_MESSAGE_LENGTH, ChannelKind
from apps.chat.models import Channel, ChannelMember, Message
from apps.chat.rendering import render_markdown
from apps.chat.selectors import direct_peer
from apps.chat.services.events import ReactionSummary, reactions_summary

_REACTIONS = inline_serializer(
    "ChatReactionSummary",
    {
        "emoji": serializers.CharField(),
        "count": serializers.IntegerField(),
        "users": serializers.ListField(child=serializers.UUIDField()),
    },
    many=True,
)


class ChannelSerializer(serializers.ModelSerializer):
    """A channel as the caller sees it: ``unread_count`` and ``last_read_at``
    come from the list's annotations (0 / null on a fresh channel)."""

    project = serializers.UUIDField(source="project_id", allow_null=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True)
    direct_user = serializers.SerializerMethodField(
        help_text="Direct channels: the other person's user id."
    )
    unread_count = serializers.SerializerMethodField()
    last_read_at = serializers.SerializerMethodField()
    is_member = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "topic",
            "kind",
            "project",
            "direct_user",
            "created_by",
            "unread_count",
            "last_read_at",
            "is_member",
            "last_message_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_direct_user(self, obj: Channel) -> str | None:
        user = self.context.get("user_id")
        return direct_peer(obj, user) if user else None

    @extend_schema_field(serializers.IntegerField())
    def get_unread_count(self, obj: Channel) -> int:
        return int(getattr(obj, "unread_count", 0) or 0)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_read_at(self, obj: Channel) -> str | None:
        value = getattr(obj, "my_last_read_at", None)
        return serializers.DateTimeField().to_representation(value) if value else None

    @extend_schema_field(serializers.BooleanField())
    def get_is_member(self, obj: Channel) -> bool:
        return bool(getattr(obj, "is_member", False))


class ChannelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    kind = serializers.ChoiceField(
        choices=[ChannelKind.PUBLIC, ChannelKind.PRIVATE, ChannelKind.PROJECT]
    )
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")
    project = serializers.UUIDField(
        required=False, allow_null=True, default=None, source="project_id"
    )
    members = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=500
    )


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)


class ChannelMemberSerializer(serializers.ModelSerializer):
    user = serializers.UUIDField(source="user_id")

    class Meta:
        model = ChannelMember
        fields = ["user", "joined_at", "last_read_at"]
        read_only_fields = fields


class UserRefSerializer(serializers.Serializer):
    user = serializers.UUIDField()


class MessageSerializer(serializers.ModelSerializer):
    """A message; ``html`` is the sanitised rendering of the markdown
    ``body``. A tombstone (``deleted``, only in ``since`` catch-up pages) has
    neither."""

    channel = serializers.UUIDField(source="channel_id")
    # A declared field named like Field.parent: DRF's metaclass moves it into
    # _declared_fields, so it never shadows that attribute (the stubs see one).
    parent = serializers.UUIDField(source="parent_id", allow_null=True)  # type: ignore[assignment]
    author = serializers.UUIDField(source="author_id")
    body = serializers.SerializerMethodField()
    html = serializers.SerializerMethodField()
    mentions = serializers.ListField(child=serializers.UUIDField())
    reactions = serializers.SerializerMethodField()
    deleted = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "channel",
            "parent",
            "author",
            "body",
            "html",
            "mentions",
            "reply_count",
            "last_reply_at",
            "reactions",
            "created_at",
            "edited_at",
            "deleted",
        ]
        read_only_fields = fields

    def get_body(self, obj: Message) -> str:
        return "" if obj.deleted_at else obj.body

    def get_html(self, obj: Message) -> str:
        return "" if obj.deleted_at else render_markdown(obj.body)

    @extend_schema_field(_REACTIONS)
    def get_reactions(self, obj: Message) -> list[ReactionSummary]:
        return [] if obj.deleted_at else reactions_summary(obj.reactions.all())

    def get_deleted(self, obj: Message) -> bool:
        return obj.deleted_at is not None


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_MESSAGE_LENGTH, trim_whitespace=False)
    # Not Field.parent: see MessageSerializer.parent.
    parent = serializers.UUIDField(  # type: ignore[assignment]
        required=False, allow_null=True, default=None, source="parent_id"
    )


class MessageUpdateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_MESSAGE_LENGTH, trim_whitespace=False)


class ReactionCreateSerializer(serializers.Serializer):
    emoji = serializers.CharField(max_length=MAX_EMOJI_LENGTH)


class ReactionSerializer(serializers.Serializer):
    message = serializers.UUIDField(source="message_id")
    user = serializers.UUIDField(source="user_id")
    emoji = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReadMarkerSerializer(serializers.Serializer):
    message = serializers.UUIDField()


class ReadMarkerOutSerializer(serializers.Serializer):
    channel = serializers.UUIDField(source="channel_id")
    message = serializers.UUIDField(source="last_read_message_id", allow_null=True)
    last_read_at = serializers.DateTimeField(allow_null=True)
