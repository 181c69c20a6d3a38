"""Platform admin console: users.

The admin only exists on the public host (``config/urls_public.py``) and only
for platform staff (``is_staff``) whose session is verified with a second
factor (``admin_site.py``). NovaTime's user logs in with an email and has no
``username``, so Django's stock ``UserAdmin`` forms and fieldsets (which name
``username``) are replaced by ones bound to :class:`~apps.iam.models.User`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership

from .models import AuthToken, User, UserManager

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _MembershipCount(TypedDict):
    membership_count: int


def _clean_login_email(form: forms.ModelForm[User]) -> str:
    """Normalise the login like the manager does and refuse case-only duplicates.

    The database holds a unique index on ``lower(email)``; checking here turns
    what would be an integrity error into a form error on the right field.
    """
    email = UserManager.normalize_login(form.cleaned_data.get("email", ""))
    others = User.objects.filter(email__iexact=email)
    if form.instance.pk is not None:
        others = others.exclude(pk=form.instance.pk)
    if email and others.exists():
        raise ValidationError("A user with this email address already exists.", code="unique")
    return email


class UserCreationForm(AdminUserCreationForm):
    """Add form: email + password (or an unusable one, set later by reset).

    ``AdminUserCreationForm`` is Django's ``UserCreationForm`` plus the
    "password-based authentication: enabled/disabled" switch.
    """

    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return _clean_login_email(self)


class UserChangeForm(DjangoUserChangeForm):
    """Change form bound to the custom user (the password is shown as a hash
    summary with a link to the password change page, never edited here)."""

    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return _clean_login_email(self)


class MembershipOfUserInline(admin.TabularInline):
    """The user's organizations, for context. Read-only: roles are changed in
    the Membership admin (or, later, by the organization's own members API)."""

    model = Membership
    fk_name = "user"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("organization_link", "role", "status", "joined_at")
    readonly_fields = fields
    verbose_name_plural = "Memberships"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("organization")

    def has_add_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    @admin.display(description="Organization")
    def organization_link(self, membership: Membership) -> str:
        org = membership.organization
        url = reverse("admin:organizations_organization_change", args=[org.pk])
        return format_html('<a href="{}">{}</a> ({})', url, org, org.slug or org.schema_name)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users of the whole platform (one row per person, memberships per org)."""

    form = UserChangeForm
    add_form = UserCreationForm
    list_display = (
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "date_joined",
        "membership_count",
    )
    list_filter = ("is_staff", "is_active")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("id", "date_joined", "last_login", "updated_at")
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "timezone", "avatar_url")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )
    inlines = (MembershipOfUserInline,)
    # Django 6 switches URL fields to https by default; say so now (avatar_url).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # One aggregate in the changelist query instead of a count per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                membership_count=Count(
                    "memberships", filter=Q(memberships__status=MembershipStatus.ACTIVE)
                )
            )
        )

    def get_inlines(self, request: HttpRequest, obj: User | None) -> Any:
        # A user being created has no memberships yet.
        return self.inlines if obj is not None else ()

    @admin.display(description="Memberships", ordering="membership_count")
    def membership_count(self, user: WithAnnotations[User, _MembershipCount]) -> int:
        return user.membership_count


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    """API tokens: staff can see and revoke (delete) them, never read a key
    (only its hash is stored) or create one."""

    list_display = ["user", "prefix", "name", "created_at", "last_used_at"]
    search_fields = ["user__email", "prefix"]
    list_select_related = ["user"]
    exclude = ["key_hash"]
    readonly_fields = ["id", "user", "prefix", "name", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuthToken | None = None) -> bool:
        return False
