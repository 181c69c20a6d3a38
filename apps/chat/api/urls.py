"""Chat URLs, mounted under ``/api/v1/chat/`` of organization hosts.

Ids use Django's ``uuid`` converter: a malformed id is an unknown URL (404).
"""

from django.urls import path

from . import views

urlpatterns = [
    path("channels/", views.ChannelListView.as_view(), name="chat-channels"),
    path("channels/<uuid:channel_id>/", views.ChannelDetailView.as_view(), name="chat-channel"),
    path(
        "channels/<uuid:channel_id>/members/",
        views.ChannelMembersView.as_view(),
        name="chat-channel-members",
    ),
    path(
        "channels/<uuid:channel_id>/messages/",
        views.ChannelMessagesView.as_view(),
        name="chat-channel-messages",
    ),
    path(
        "channels/<uuid:channel_id>/read/",
        views.ChannelReadView.as_view(),
        name="chat-channel-read",
    ),
    path("direct/", views.DirectChannelView.as_view(), name="chat-direct"),
    path("messages/<uuid:message_id>/", views.MessageDetailView.as_view(), name="chat-message"),
    path(
        "messages/<uuid:message_id>/reactions/",
        views.MessageReactionsView.as_view(),
        name="chat-message-reactions",
    ),
    path(
        "messages/<uuid:message_id>/reactions/<str:emoji>/",
        views.MessageReactionDetailView.as_view(),
        name="chat-message-reaction",
    ),
]
