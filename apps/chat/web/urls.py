"""Pages of the chat app on an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import views

app_name = "chat_web"

urlpatterns = [
    path("chat/", views.channels_page, name="channels"),
    path("chat/new/", views.channel_new, name="channel_new"),
    path("chat/direct/", views.direct_new, name="direct_new"),
    path("chat/<uuid:channel_id>/", views.channel_page, name="channel"),
    path("chat/<uuid:channel_id>/send/", views.send, name="send"),
    path("chat/<uuid:channel_id>/threads/<uuid:message_id>/", views.thread_page, name="thread"),
    path(
        "chat/messages/<uuid:message_id>/reactions/add/",
        views.reaction_add,
        name="reaction_add",
    ),
    path(
        "chat/messages/<uuid:message_id>/reactions/remove/",
        views.reaction_remove,
        name="reaction_remove",
    ),
]
