"""Platform admin console: organizations, their domains and memberships.

What the admin may and may not do, and why:

- **No creating or deleting organizations.** Creating one means provisioning a
  schema (signup or ``manage.py tenants create``); deleting one drops a schema
  (``manage.py tenants delete``, CLI only, on purpose). The admin would only
  write the row and leave the two out of step.
- **Status changes go through actions** ("Suspend", "Resume") that call
  ``services.organization_suspend`` / ``organization_resume``, the services
  ``manage.py tenants suspend|resume`` call: one rule for what may be
  suspended or resumed, resume restores the status the suspension
  interrupted, and the save invalidates the host cache so writes on a
  suspended host get 402 at once.
- **The slug and schema name are read-only**: the schema name is opaque and
  fixed; the slug is the subdomain, and renaming it also means moving the
  primary domain (a service, not a form field).
- **Template and pooled rows** are infrastructure: hidden by default (filter
  "Kind"), view-only, and never touched by the actions.

Who gets in: active staff whose session is verified with a second factor
(``apps.iam.admin_site.NovaTimeAdminSite``, the default ``admin.site``, which
also carries the console's name); then Django's model permissions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from tenants.provisioning import TenantError

from .constants import INTERNAL_STATUSES, MembershipStatus, Role
from .models import Domain, Invitation, Membership, Organization
from .services import organization_resume, organization_suspend
from .signals import membership_changed

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices


def _is_internal(org: Organization | None) -> bool:
    return org is not None and org.status in INTERNAL_STATUSES


def _is_autocomplete(request: HttpRequest) -> bool:
    return request.path.rstrip("/").endswith("/autocomplete")


class KindFilter(admin.SimpleListFilter):
    """Customers by default; the template and pool rows only when asked for."""

    title = "kind"
    parameter_name = "kind"
    CUSTOMERS, INTERNAL, ALL = "customers", "internal", "all"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Organization]
    ) -> list[tuple[str, str]]:
        return [
            (self.CUSTOMERS, "Customers"),
            (self.INTERNAL, "Template & pool"),
            (self.ALL, "All"),
        ]

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        # Unlike a stock filter, "no parameter" means "customers", not "all".
        current = self.value() or self.CUSTOMERS
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or self.CUSTOMERS
        if value == self.INTERNAL:
            return queryset.filter(status__in=INTERNAL_STATUSES)
        if value == self.ALL:
            return queryset
        return queryset.exclude(status__in=INTERNAL_STATUSES)


class DomainInline(admin.TabularInline):
    """Host names of the organization (read-only: they are provisioned)."""

    model = Domain
    extra = 0
    can_delete = False
    fields = ("domain", "is_primary", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False


class MembershipOfOrganizationInline(admin.TabularInline):
    """Members of the organization; edited one by one in the Membership admin."""

    model = Membership
    fk_name = "organization"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("user", "role", "status", "joined_at")
    readonly_fields = fields
    verbose_name_plural = "Memberships"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    """Customer organizations (tenants)."""

    list_display = (
        "name",
        "slug",
        "status",
        "member_count",
        "created_at",
        "schema_name",
        "primary_domain",
    )
    list_filter = (KindFilter, "status", "created_at")
    search_fields = ("name", "slug", "domains__domain", "schema_name")
    ordering = ("name", "created_at")
    actions = ("suspend_organizations", "resume_organizations")
    readonly_fields = (
        "id",
        "slug",
        "status",
        "status_before_suspension",
        "schema_name",
        "created_at",
        "updated_at",
    )
    inlines = (DomainInline, MembershipOfOrganizationInline)
    show_full_result_count = False  # one COUNT(*) per page is enough

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        """Member count and primary domain as correlated subqueries.

        Subqueries (rather than JOIN + GROUP BY) keep the count right even when
        the admin search adds a join on ``domains`` and cost one query per page,
        whatever the number of rows.
        """
        members = (
            Membership.objects.filter(organization=OuterRef("pk"), status=MembershipStatus.ACTIVE)
            .order_by()
            .values("organization")
            .annotate(n=Count("pk"))
            .values("n")
        )
        primary = Domain.objects.filter(tenant=OuterRef("pk"), is_primary=True).order_by("domain")
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=Coalesce(Subquery(members, output_field=IntegerField()), Value(0)),
                primary_domain=Subquery(primary.values("domain")[:1]),
            )
        )

    def get_fields(self, request: HttpRequest, obj: Organization | None = None) -> tuple[str, ...]:
        """Identity first, timestamps last, every other (settings) field between.

        Derived from the model rather than listed, so organization settings
        added later show up here without touching the admin.
        """
        head = ["id", "name", "slug", "status", "status_before_suspension", "schema_name"]
        tail = ["created_at", "updated_at"]
        middle = [
            f
            for f in super().get_fields(request, obj)
            if isinstance(f, str) and f not in head + tail
        ]
        return (*head, *middle, *tail)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Autocomplete widgets (Domain/Membership forms) offer customers only.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if _is_autocomplete(request):
            queryset = queryset.exclude(status__in=INTERNAL_STATUSES)
        return queryset, may_have_duplicates

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, org: Organization) -> int:
        return org.member_count

    @admin.display(description="Primary domain", ordering="primary_domain")
    def primary_domain(self, org: Organization) -> str:
        return org.primary_domain or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # provisioning: signup or `manage.py tenants create`

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False  # drops a schema: `manage.py tenants delete` only

    def has_change_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        if _is_internal(obj):
            return False  # template and pool rows are view-only
        return super().has_change_permission(request, obj)

    def _change_status(
        self,
        request: HttpRequest,
        queryset: QuerySet[Organization],
        *,
        change: Callable[..., Organization],
        verb: str,
    ) -> None:
        """Apply ``change`` (``organization_suspend`` or ``organization_resume``,
        the services ``manage.py tenants suspend|resume`` call too) to each
        selected row, in a stable order, each in its own transaction.

        The service decides what is allowed and locks the row (and its
        subscription, in billing's order); a refusal names the row and the
        service's reason and changes nothing on that row.
        """
        changed: list[Organization] = []
        refused: list[tuple[Organization, TenantError]] = []
        for org in queryset.order_by("pk"):
            try:
                updated = change(organization_id=org.pk)
            except TenantError as exc:
                refused.append((org, exc))
                continue
            self.log_change(request, updated, f"{verb.capitalize()} via admin action.")
            changed.append(updated)
        changed.sort(key=_label)
        refused.sort(key=lambda item: _label(item[0]))
        if changed:
            self.message_user(
                request,
                f"{verb.capitalize()} {_count(changed)}: "
                + ", ".join(f"{_label(o)} ({o.status})" for o in changed)
                + ".",
                messages.SUCCESS,
            )
        if not changed and not refused:
            # Selected rows the current filter hides never reach the action.
            self.message_user(request, "No organization was changed.", messages.WARNING)
        if refused:
            self.message_user(
                request,
                f"Not {verb}: "
                + "; ".join(f"{_label(o)}: {exc.code} ({exc.message})" for o, exc in refused),
                messages.WARNING,
            )

    @admin.action(description="Suspend selected organizations (read-only, writes get 402)")
    def suspend_organizations(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        self._change_status(request, queryset, change=organization_suspend, verb="suspended")

    @admin.action(description="Resume selected suspended organizations (their status before)")
    def resume_organizations(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        self._change_status(request, queryset, change=organization_resume, verb="resumed")


def _count(orgs: list[Organization]) -> str:
    return f"{len(orgs)} organization{'s' if len(orgs) != 1 else ''}"


def _label(org: Organization) -> str:
    return org.slug or org.schema_name


def _slugs(orgs: list[Organization]) -> str:
    return ", ".join(_label(o) for o in orgs)


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    """Host names → organizations. Saving or deleting one invalidates the host
    cache (signals in ``tenants.resolution``)."""

    list_display = ("domain", "tenant_link", "is_primary", "created_at")
    list_filter = ("is_primary",)
    search_fields = ("domain", "tenant__slug", "tenant__name")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    readonly_fields = ("id", "created_at")
    fields = ("id", "domain", "tenant", "is_primary", "created_at")

    @admin.display(description="Organization", ordering="tenant__name")
    def tenant_link(self, domain: Domain) -> str:
        url = reverse("admin:organizations_organization_change", args=[domain.tenant_id])
        return format_html('<a href="{}">{}</a>', url, domain.tenant)

    def has_delete_permission(self, request: HttpRequest, obj: Domain | None = None) -> bool:
        # Without its primary domain an organization is unreachable.
        if obj is not None and obj.is_primary:
            return False
        return super().has_delete_permission(request, obj)


def _is_last_active_owner(membership: Membership) -> bool:
    """Whether ``membership`` is its organization's only active owner.

    Locks the organization's active owner rows (a plain SELECT ... FOR UPDATE:
    Django drops FOR UPDATE from ``.count()``), so two concurrent demotions
    cannot both see "another owner is left".
    """
    owners = list(
        Membership.objects.select_for_update()
        .filter(
            organization_id=membership.organization_id,
            role=Role.OWNER,
            status=MembershipStatus.ACTIVE,
        )
        .values_list("pk", flat=True)
    )
    return owners == [membership.pk]


class MembershipAdminForm(forms.ModelForm):
    """Refuses to leave an organization without an active owner (the members
    API refuses it too, with ``last_owner``)."""

    class Meta:
        model = Membership
        fields = ("user", "organization", "role", "status")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns
        current = self.instance  # still the saved values: the form applies them later
        stays_owner = (
            cleaned.get("role", current.role) == Role.OWNER
            and cleaned.get("status", current.status) == MembershipStatus.ACTIVE
        )
        if (
            current.pk is not None
            and current.role == Role.OWNER
            and current.status == MembershipStatus.ACTIVE
            and not stays_owner
            and _is_last_active_owner(current)
        ):
            raise forms.ValidationError(
                "This is the organization's last active owner: make someone else owner first.",
                code="last_owner",
            )
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who belongs to which organization, with which role.

    Changes send ``membership_changed`` after commit, like the members API, so
    listeners (billing seat sync, ...) see admin edits too.
    """

    form = MembershipAdminForm
    list_display = ("user", "organization", "role", "status", "joined_at")
    list_filter = ("role", "status")
    search_fields = ("user__email", "organization__slug", "organization__name")
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")
    readonly_fields = ("id", "joined_at", "updated_at")
    fields = ("id", "user", "organization", "role", "status", "joined_at", "updated_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Membership | None = None
    ) -> tuple[str, ...]:
        # A membership never moves to another user or organization: add a new one.
        if obj is not None:
            return (*self.readonly_fields, "user", "organization")
        return self.readonly_fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk delete would bypass the last-owner check of the delete page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        if (
            obj is not None
            and obj.role == Role.OWNER
            and obj.status == MembershipStatus.ACTIVE
            and _is_last_active_owner(obj)
        ):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: Membership, form: forms.ModelForm[Membership], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            _send_membership_changed(obj, "added")
        elif {"role", "status"} & set(form.changed_data):
            _send_membership_changed(obj, "role_changed")

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        _send_membership_changed(obj, "removed")
        super().delete_model(request, obj)


def _send_membership_changed(membership: Membership, action: str) -> None:
    org_id, user_id = membership.organization_id, membership.user_id
    transaction.on_commit(
        lambda: membership_changed.send(
            sender=Membership, organization_id=org_id, user_id=user_id, action=action
        )
    )


# --- Invitations -----------------------------------------------------------------


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are created, resent and revoked through the API (which emails
    the token); the console shows them and nothing more. ``token_hash`` is a
    credential's hash and never displayed."""

    list_display = ["email", "organization", "role", "status", "expires_at", "invited_by"]
    list_filter = ["status", "role"]
    search_fields = ["email", "organization__slug", "organization__name"]
    list_select_related = ["organization", "invited_by"]
    exclude = ["token_hash"]
    readonly_fields = [
        "id",
        "organization",
        "email",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        return False
