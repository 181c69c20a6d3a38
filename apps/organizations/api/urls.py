"""Organization URLs: ``public_urlpatterns`` (base host), ``tenant_urlpatterns``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import invitations, views

router = SimpleRouter()
router.register("members", views.MemberViewSet, basename="member")
router.register("invitations", invitations.InvitationViewSet, basename="invitation")

public_urlpatterns = [
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("organizations/", views.MyOrganizationsView.as_view(), name="my-organizations"),
    path(
        "invitations/accept/",
        invitations.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
]

tenant_urlpatterns = [
    path("organization/", views.OrganizationSettingsView.as_view(), name="organization"),
    *router.urls,
]
