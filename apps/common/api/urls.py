from django.urls import path

from .views import HostMetaView

urlpatterns = [
    path("meta/", HostMetaView.as_view(), name="host-meta"),
]
