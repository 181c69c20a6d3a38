"""Sign-in pages of an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import views

app_name = "iam_web"

urlpatterns = [
    path("signin/", views.signin, name="signin"),
    path("signout/", views.signout, name="signout"),
    path("signin/link/<str:key>/", views.signin_link, name="signin_link"),
]
