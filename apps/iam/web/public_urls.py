"""Sign-in pages of the public host (config/urls_public.py)."""

from django.urls import path

from . import public

app_name = "iam_public"

urlpatterns = [
    path("signin/", public.signin, name="signin"),
    path("signin/organizations/", public.organizations, name="organizations"),
]
