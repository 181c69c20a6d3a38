"""Realtime URLs, mounted under ``/api/v1/realtime/`` of organization hosts."""

from django.urls import path

from .views import PresenceListView, RealtimeTicketView

urlpatterns = [
    path("ticket/", RealtimeTicketView.as_view(), name="realtime-ticket"),
    path("presence/", PresenceListView.as_view(), name="realtime-presence"),
]
