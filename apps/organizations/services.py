"""Writes for organizations: creation and signup, members, settings.

Every function here is all-or-nothing (one transaction) and sends
``membership_changed`` after commit when memberships change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from apps.common.errors import ApplicationError, ConflictError
from tenants.provisioning import Provisioned, TenantError, provision_tenant

from .constants import ROLE_RANK, MembershipStatus, Role
from .models import Membership, Organization
from .signals import membership_changed

logger = logging.getLogger(__name__)

#: Organization fields an admin may change through the API.
SETTINGS_FIELDS = (
    "name",
    "timezone",
    "week_start",
    "currency",
    "default_hourly_rate",
    "idle_threshold_minutes",
    "rounding_mode",
    "rounding_minutes",
    "require_two_factor",
)


def _notify(membership: Membership, action: str) -> None:
    org_id, user_id = membership.organization_id, membership.user_id
    transaction.on_commit(
        lambda: membership_changed.send(
            sender=Membership, organization_id=org_id, user_id=user_id, action=action
        )
    )


def organization_create(
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
    method: str = "auto",
    **fields: Any,
) -> Provisioned:
    """Create organization + schema + domain + owner membership, all or nothing.

    The owner is found by email (case-insensitive) or created; a new owner
    without a password gets an unusable one (they set it by password reset).
    """
    User = get_user_model()
    email = User.objects.normalize_login(owner_email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise TenantError("The owner email address is not valid.", code="invalid_email") from exc
    with transaction.atomic():
        provisioned = provision_tenant(slug=slug, name=name, method=method, **fields)
        owner = User.objects.filter(email__iexact=email).first()
        if owner is None:
            owner = User.objects.create_user(email=email, password=owner_password)
        membership = Membership.objects.create(
            user=owner, organization=provisioned.tenant, role=Role.OWNER
        )
        _notify(membership, "added")
    return provisioned


@dataclass(frozen=True)
class SignupResult:
    organization: Organization
    user: Any
    created_user: bool


def organization_signup(
    *,
    organization_name: str,
    slug: str,
    user: Any | None = None,
    email: str = "",
    password: str = "",
    first_name: str = "",
    last_name: str = "",
) -> SignupResult:
    """Public signup: new (or the authenticated) user + organization + owner role.

    Raises ``ApplicationError`` with field errors (400) for a bad or taken slug,
    a taken email or a weak password; nothing is written then.
    """
    User = get_user_model()
    created_user = user is None
    if created_user:
        email = User.objects.normalize_login(email)
        if User.objects.filter(email__iexact=email).exists():
            raise ApplicationError(
                "An account with this email exists: log in, then sign up the organization.",
                code="email_taken",
                extra={"fields": {"email": ["An account with this email already exists."]}},
            )
        candidate = User(email=email, first_name=first_name, last_name=last_name)
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise ApplicationError(
                "The password is too weak.",
                code="invalid",
                extra={"fields": {"password": exc.messages}},
            ) from exc
    try:
        with transaction.atomic():
            if created_user:
                user = User.objects.create_user(
                    email=email, password=password, first_name=first_name, last_name=last_name
                )
            provisioned = provision_tenant(slug=slug, name=organization_name)
            membership = Membership.objects.create(
                user=user, organization=provisioned.tenant, role=Role.OWNER
            )
            _notify(membership, "added")
    except TenantError as exc:
        raise ApplicationError(
            exc.message, code=exc.code, extra={"fields": {"slug": [exc.message]}}
        ) from exc
    logger.info("signup: organization %s by %s", provisioned.tenant.slug, user.email)
    return SignupResult(organization=provisioned.tenant, user=user, created_user=created_user)


def organization_update(*, organization: Organization, data: dict[str, Any]) -> Organization:
    """Apply validated settings; the host cache is invalidated by the save."""
    org = Organization.objects.get(pk=organization.pk)  # never save a cached copy
    changed = [f for f in SETTINGS_FIELDS if f in data]
    for field in changed:
        setattr(org, field, data[field])
    org.full_clean(exclude=["schema_name", "slug", "status"])
    org.save(update_fields=[*changed, "updated_at"])
    return org


# --- members -------------------------------------------------------------------


def _owners_left(organization_id: Any, excluding: Membership) -> int:
    return (
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.OWNER, status=MembershipStatus.ACTIVE)
        .exclude(pk=excluding.pk)
        .count()
    )


def _check_may_manage(actor: Membership, target: Membership, new_role: str | None = None) -> None:
    """Admins manage non-owners; only owners touch owners or grant ownership."""
    touches_owner = target.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and actor.role != Role.OWNER:
        raise ApplicationError(
            "Only owners can change owners or grant ownership.",
            code="owner_required",
            status_code=403,
        )
    if ROLE_RANK[Role(actor.role)] < ROLE_RANK[Role.ADMIN]:
        raise ApplicationError(
            "Only admins can manage members.", code="role_required", status_code=403
        )


def member_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _check_may_manage(actor, membership, new_role=role)
        demoting_owner = membership.role == Role.OWNER and role != Role.OWNER
        if demoting_owner and not _owners_left(membership.organization_id, membership):
            raise ConflictError(
                "The last owner cannot be demoted: transfer ownership first.",
                code="last_owner",
            )
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        _notify(membership, "role_changed")
    return membership


def member_remove(*, actor: Membership, membership: Membership) -> None:
    """Remove a member (admins) or leave (anyone, for themselves)."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.pk != actor.pk:
            _check_may_manage(actor, membership)
        if membership.role == Role.OWNER and not _owners_left(
            membership.organization_id, membership
        ):
            raise ConflictError(
                "The last owner cannot leave or be removed: transfer ownership first.",
                code="last_owner",
            )
        _notify(membership, "removed")
        membership.delete()


def ownership_transfer(*, actor: Membership, membership: Membership) -> Membership:
    """The acting owner hands ownership to ``membership`` and becomes an admin."""
    if actor.role != Role.OWNER:
        raise ApplicationError(
            "Only an owner can transfer ownership.", code="owner_required", status_code=403
        )
    if membership.pk == actor.pk:
        raise ApplicationError("You already own this organization.", code="invalid")
    with transaction.atomic():
        target = Membership.objects.select_for_update().get(pk=membership.pk)
        target.role = Role.OWNER
        target.save(update_fields=["role", "updated_at"])
        Membership.objects.filter(pk=actor.pk).update(role=Role.ADMIN)
        _notify(target, "role_changed")
        _notify(actor, "role_changed")
    return target
