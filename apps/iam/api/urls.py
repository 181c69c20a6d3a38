"""Authentication URLs under ``/api/v1/auth/`` (public host)."""

from dj_rest_auth import views as rest_auth_views
from dj_rest_auth.registration import views as registration_views
from django.urls import path

from . import views
from .two_factor import (
    TwoFactorConfirmView,
    TwoFactorDisableView,
    TwoFactorSetupView,
    TwoFactorStatusView,
)

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="rest_login"),
    path("logout/", views.LogoutView.as_view(), name="rest_logout"),
    path("user/", rest_auth_views.UserDetailsView.as_view(), name="rest_user_details"),
    path(
        "password/reset/", rest_auth_views.PasswordResetView.as_view(), name="rest_password_reset"
    ),
    path(
        "password/reset/confirm/",
        views.PasswordResetConfirmView.as_view(),
        name="rest_password_reset_confirm",
    ),
    path(
        "password/reset/link/<str:uidb64>/<str:token>/",
        views.PasswordResetLinkView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/change/", views.PasswordChangeView.as_view(), name="rest_password_change"),
    path("registration/", views.RegisterView.as_view(), name="rest_register"),
    path(
        "registration/verify-email/",
        registration_views.VerifyEmailView.as_view(),
        name="rest_verify_email",
    ),
    path(
        "registration/resend-email/",
        registration_views.ResendEmailVerificationView.as_view(),
        name="rest_resend_email",
    ),
    path(
        "registration/verification-sent/",
        views.VerificationSentView.as_view(),
        name="account_email_verification_sent",
    ),
    path(
        "registration/confirm-link/<str:key>/",
        views.EmailConfirmLinkView.as_view(),
        name="account_confirm_email",
    ),
    path("2fa/", TwoFactorStatusView.as_view(), name="two_factor_status"),
    path("2fa/setup/", TwoFactorSetupView.as_view(), name="two_factor_setup"),
    path("2fa/confirm/", TwoFactorConfirmView.as_view(), name="two_factor_confirm"),
    path("2fa/disable/", TwoFactorDisableView.as_view(), name="two_factor_disable"),
]
