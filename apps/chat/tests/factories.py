"""Factories for chat tests (use inside a tenant schema)."""

from __future__ import annotations

import factory

from apps.chat.constants import ChannelKind
from apps.chat.models import Channel, ChannelMember, Message


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = ChannelKind.PUBLIC


class ChannelMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelMember

    channel = factory.SubFactory(ChannelFactory)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    channel = factory.SubFactory(ChannelFactory)
    body = factory.Sequence(lambda n: f"message {n}")
