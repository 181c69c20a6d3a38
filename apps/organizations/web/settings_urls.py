"""The Settings pages of an organization host (config/urls_tenant.py)."""

from django.urls import path, reverse_lazy
from django.views.generic import RedirectView

from . import settings

app_name = "organizations_web"

urlpatterns = [
    path("settings/", settings.organization_page, name="settings"),
    path("settings/members/", settings.members_page, name="settings_members"),
    path("settings/members/<uuid:pk>/role/", settings.member_role, name="settings_member_role"),
    path(
        "settings/members/<uuid:pk>/remove/", settings.member_remove, name="settings_member_remove"
    ),
    path(
        "settings/members/<uuid:pk>/make-owner/",
        settings.member_make_owner,
        name="settings_member_make_owner",
    ),
    path("settings/invitations/", settings.invitations_page, name="settings_invitations"),
    path(
        "settings/invitations/<uuid:pk>/resend/",
        settings.invitation_resend,
        name="settings_invitation_resend",
    ),
    path(
        "settings/invitations/<uuid:pk>/revoke/",
        settings.invitation_revoke,
        name="settings_invitation_revoke",
    ),
    path("settings/rates/", settings.rates_page, name="settings_rates"),
    path("settings/rates/<uuid:pk>/", settings.member_terms, name="settings_member_terms"),
    path("settings/time-tracking/", settings.time_tracking_page, name="settings_time_tracking"),
    path("settings/automation/", settings.automation_page, name="settings_automation"),
    path("settings/billing/", settings.billing_page, name="settings_billing"),
    path("settings/billing/portal/", settings.billing_portal, name="settings_billing_portal"),
    # Where Stripe's portal and checkout send the browser back (``<host>billing``).
    path(
        "billing/",
        RedirectView.as_view(url=reverse_lazy("organizations_web:settings_billing")),
        name="billing_return",
    ),
]
