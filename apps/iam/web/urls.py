"""Sign-in and account pages of an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import account, views

app_name = "iam_web"

urlpatterns = [
    path("signin/", views.signin, name="signin"),
    path("signout/", views.signout, name="signout"),
    path("signin/link/<str:key>/", views.signin_link, name="signin_link"),
    path("account/", account.account, name="account"),
    path("account/profile/", account.profile_save, name="account_profile"),
    path("account/password/", account.password_change, name="account_password"),
    path("account/two-factor/setup/", account.two_factor_start, name="account_two_factor_setup"),
    path(
        "account/two-factor/confirm/", account.two_factor_finish, name="account_two_factor_confirm"
    ),
    path("account/two-factor/disable/", account.two_factor_off, name="account_two_factor_disable"),
]
