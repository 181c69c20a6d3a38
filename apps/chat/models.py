"""Chat (tenant schema): channels, their members, messages, reactions.

Users are referred to by ``user_id``/``author_id`` UUID columns, never foreign
keys: users live in the public schema. Read markers live on ``ChannelMember``
(one row per user and channel), so the unread count of every channel of a list
is a single correlated sub-query.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.common.models import SoftDeleteModel, TimestampedModel
from apps.projects.models import Project

from .constants import ChannelKind


class Channel(SoftDeleteModel):
    """A conversation: public, private, linked to a project, or direct (1:1).

    ``direct_key`` is ``"<smaller user id>:<larger user id>"`` for direct
    channels; its unique index makes "open the conversation with X"
    idempotent even when both people click at the same time.
    """

    name = models.CharField(max_length=80, blank=True)
    topic = models.CharField(max_length=250, blank=True)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="chat_channels"
    )
    direct_key = models.CharField(max_length=80, null=True, blank=True, editable=False)
    created_by_id = models.UUIDField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(kind="direct"),
                name="chat_channel_name_unique",
            ),
            models.UniqueConstraint(
                fields=["direct_key"],
                condition=models.Q(direct_key__isnull=False),
                name="chat_channel_direct_unique",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(deleted_at__isnull=True) & models.Q(project__isnull=False),
                name="chat_channel_project_unique",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="project") & models.Q(project__isnull=False))
                | (~models.Q(kind="project") & models.Q(project__isnull=True)),
                name="chat_channel_project_iff_kind",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="direct") & models.Q(direct_key__isnull=False))
                | (~models.Q(kind="direct") & models.Q(direct_key__isnull=True)),
                name="chat_channel_direct_key_iff_kind",
            ),
            # OR of equalities, not ``kind__in``: PostgreSQL deparses ``IN``
            # differently after a pg_dump round trip, and tenants cloned from
            # the template must be identical to migrated ones.
            models.CheckConstraint(
                condition=models.Q(kind="public")
                | models.Q(kind="private")
                | models.Q(kind="project")
                | models.Q(kind="direct"),
                name="chat_channel_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"direct {self.direct_key}"


class ChannelMember(models.Model):
    """A user in a channel, and how far they have read it.

    For private and direct channels the row *is* the right to see the channel;
    for public and project channels (visible by other rules) it only carries
    the read marker and is created on first read or post.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="members")
    user_id = models.UUIDField(db_index=True)
    joined_at = models.DateTimeField(default=timezone.now)
    last_read_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "user_id"], name="chat_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.channel_id}"


class Message(SoftDeleteModel):
    """A message; markdown ``body`` stored raw, rendered and sanitised on output.

    ``parent`` makes it a thread reply (threads are one level deep);
    ``reply_count`` counts the live replies of a thread root (kept with F()
    updates by the services). ``mentions`` holds the mentioned user ids.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author_id = models.UUIDField()
    body = models.TextField()
    mentions = ArrayField(models.UUIDField(), default=list, blank=True)
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "-created_at"], name="chat_message_history"),
            models.Index(fields=["channel", "updated_at"], name="chat_message_changes"),
            models.Index(fields=["parent", "created_at"], name="chat_message_thread"),
            GinIndex(fields=["body"], name="chat_message_body_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["mentions"], name="chat_message_mentions_gin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="chat_message_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} in {self.channel_id}"


class Reaction(TimestampedModel):
    """One user's emoji on one message (unique per user and emoji)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user_id = models.UUIDField()
    emoji = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user_id", "emoji"], name="chat_reaction_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"
