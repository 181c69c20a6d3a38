"""Pages of the public host (config/urls_public.py)."""

from django.urls import path

from . import invitations, views

app_name = "organizations_public"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup, name="signup"),
    path("signup/slug-check/", views.slug_check, name="slug_check"),
    path("invitations/<str:token>/", invitations.accept, name="invitation"),
]
