"""Serializers of the realtime HTTP endpoints."""

from rest_framework import serializers


class RealtimeTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Pass as `?ticket=` when opening `/ws/`; single-use.")
    expires_in = serializers.IntegerField(help_text="Seconds until the ticket expires.")


class PresenceSerializer(serializers.Serializer):
    user = serializers.UUIDField()
    state = serializers.ChoiceField(choices=["online", "away", "offline"])
    sockets = serializers.IntegerField(help_text="Live sockets of the member.")
