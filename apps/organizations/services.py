"""Writes for organizations: creation and signup, members, settings.

Every function here is all-or-nothing (one transaction) and sends
``membership_changed`` after commit when memberships change.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.billing.limits import check_limit
from apps.billing.models import Subscription
from apps.billing.services import organization_status_resync
from apps.common.errors import ApplicationError, ConflictError
from apps.iam.services import new_user_password_check
from apps.iam.two_factor import two_factor_enabled
from tenants.provisioning import Provisioned, TenantError, provision_tenant, set_tenant_status

from .constants import MembershipStatus, OrganizationStatus, Role
from .emails import invitation_email_send
from .models import (
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    invitation_default_expiry,
)
from .permissions import ROLE_RANK, role_has
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
    if isinstance(fields.get("currency"), str):
        # Stored upper case, as the settings API stores it; the model's
        # validator (ISO 4217) then checks it in provision_tenant.
        fields["currency"] = fields["currency"].strip().upper()
    with transaction.atomic():
        provisioned = provision_tenant(slug=slug, name=name, method=method, **fields)
        owner = User.objects.filter(email__iexact=email).first()
        if owner is None:
            owner = User.objects.create_user(email=email, password=owner_password)
        member_ensure(organization=provisioned.tenant, user=owner, role=Role.OWNER)
    return provisioned


def member_ensure(*, organization: Organization, user: Any, role: str) -> Membership:
    """Make ``user`` an active member of ``organization`` with ``role``, whatever
    they were before (no membership, deactivated, another role); idempotent.

    For operators' tools (``tenants create``, ``tenants seed-demo``), which
    must not bypass what every membership change does: the plan's member
    limit (``check_limit``, 402 ``plan_limit_reached``) for a new seat, and
    ``membership_changed`` after commit, so billing counts the seat. An
    unchanged membership sends nothing.
    """
    with transaction.atomic():
        membership, seated = _seat(organization_id=organization.pk, user=user, role=role)
        if seated == "added":
            _notify(membership, "added")
        elif seated == "reactivated":
            _notify(membership, "role_changed")
        elif membership.role != role:  # already active: only the role changes
            membership.role = role
            membership.save(update_fields=["role", "updated_at"])
            _notify(membership, "role_changed")
    return membership


def _seat(
    *, organization_id: Any, user: Any, role: str
) -> tuple[Membership, Literal["added", "reactivated", "active"]]:
    """Give ``user`` an active seat with ``role``, the one way both joining
    (:func:`_membership_join`) and operators' tools (:func:`member_ensure`)
    do it: the (user, organization) row is locked; a new or deactivated
    membership takes a seat under the plan's member limit (402
    ``plan_limit_reached``) and comes back active with ``role`` (the unique
    row is reused, not duplicated). An already active membership is returned
    untouched, ``"active"``: what that means is the caller's. Call inside a
    transaction."""
    membership = (
        Membership.objects.select_for_update()
        .filter(user=user, organization_id=organization_id)
        .first()
    )
    if membership is not None and membership.status == MembershipStatus.ACTIVE:
        return membership, "active"
    check_limit(organization_id=organization_id, limit="members")
    if membership is None:
        created = Membership.objects.create(user=user, organization_id=organization_id, role=role)
        return created, "added"
    membership.status, membership.role = MembershipStatus.ACTIVE, role
    membership.save(update_fields=["status", "role", "updated_at"])
    return membership, "reactivated"


# --- suspension ---------------------------------------------------------------

#: Statuses an operator can suspend an organization from: the serving,
#: writable ones. Not template/pooled/provisioning rows (infrastructure), not
#: a cancelled organization (already read-only), not a suspended one.
SUSPENDABLE_STATUSES = frozenset(
    {OrganizationStatus.TRIALING, OrganizationStatus.ACTIVE, OrganizationStatus.PAST_DUE}
)


def _locked_for_status_change(organization_id: Any) -> tuple[Organization, Subscription | None]:
    """The organization and its subscription, locked in billing's order
    (subscription first, as webhook processing takes them) so that an
    operator's action and a webhook never deadlock."""
    subscription = (
        Subscription.objects.select_for_update().filter(organization_id=organization_id).first()
    )
    organization = Organization.objects.select_for_update().filter(pk=organization_id).first()
    if organization is None:
        raise TenantError("No such organization.", code="not_found")
    return organization, subscription


def organization_suspend(*, organization_id: Any) -> Organization:
    """An operator's suspension (``tenants suspend``, the admin action): the
    organization becomes read-only (writes get 402 ``organization_inactive``)
    and remembers the status it had, which :func:`organization_resume` restores.

    Refused (``TenantError``): ``already_suspended``; ``not_suspendable`` for
    any status outside :data:`SUSPENDABLE_STATUSES`.
    """
    with transaction.atomic():
        org, _ = _locked_for_status_change(organization_id)
        if org.status == OrganizationStatus.SUSPENDED:
            raise TenantError("The organization is already suspended.", code="already_suspended")
        if org.status not in SUSPENDABLE_STATUSES:
            raise TenantError(
                f"The organization is {org.status}: only trialing, active or past_due "
                "organizations can be suspended.",
                code="not_suspendable",
            )
        set_tenant_status(org, OrganizationStatus.SUSPENDED, status_before_suspension=org.status)
    logger.info(
        "organization %s suspended by an operator (was %s)", org.pk, org.status_before_suspension
    )
    return org


def organization_resume(*, organization_id: Any) -> Organization:
    """Lift an operator's suspension: the organization gets back the status
    it had when suspended, then whatever its subscription calls for now
    (billing left it alone meanwhile: a trial that ended resumes ``active``, a
    payment grace period that ran out keeps it ``suspended``, by billing).

    A row suspended before the prior status was recorded resumes ``active``,
    then billing's status applies the same way. Refused (``TenantError``):
    ``not_suspended``; ``suspended_by_billing`` (billing lifts its own
    suspension when the customer pays, an operator does not).
    """
    with transaction.atomic():
        org, subscription = _locked_for_status_change(organization_id)
        if org.status != OrganizationStatus.SUSPENDED:
            raise TenantError(
                f"The organization is not suspended (it is {org.status}).", code="not_suspended"
            )
        if subscription is not None and subscription.suspended_by_billing:
            raise TenantError(
                "Billing suspended this organization (its subscription is "
                f"{subscription.status}): it resumes when billing is settled.",
                code="suspended_by_billing",
            )
        previous = org.status_before_suspension or OrganizationStatus.ACTIVE
        set_tenant_status(org, previous, status_before_suspension="")
        if subscription is not None:
            organization_status_resync(subscription=subscription)
            org.refresh_from_db(fields=["status", "updated_at"])
    logger.info("organization %s resumed by an operator: %s", org.pk, org.status)
    return org


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
        new_user_password_check(
            password=password, email=email, first_name=first_name, last_name=last_name
        )
    try:
        with transaction.atomic():
            if user is None:  # created_user
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


#: Settings only owners may change (the rest: admin+).
OWNER_ONLY_SETTINGS = frozenset({"require_two_factor"})


def organization_update(
    *, actor: Membership, organization: Organization, data: dict[str, Any]
) -> Organization:
    """Apply validated settings; the host cache is invalidated by the save."""
    owner_only = OWNER_ONLY_SETTINGS.intersection(data)
    if owner_only and actor.role != Role.OWNER:
        raise ApplicationError(
            f"Only owners can change: {', '.join(sorted(owner_only))}.",
            code="owner_required",
            status_code=403,
        )
    if data.get("require_two_factor") and not two_factor_enabled(user=actor.user):
        # Switching it on would lock the actor out with everyone else who has
        # no second factor, with nobody left who could switch it off.
        raise ConflictError(
            "Turn on two-factor authentication for your own account before "
            "requiring it from every member.",
            code="two_factor_required_for_actor",
            extra={
                "fields": {
                    "require_two_factor": [
                        "You have no confirmed two-factor device: set one up first."
                    ]
                }
            },
        )
    org = Organization.objects.get(pk=organization.pk)  # never save a cached copy
    old_default_rate = org.default_hourly_rate
    changed = [f for f in SETTINGS_FIELDS if f in data]
    if "currency" in data and data["currency"] != org.currency:
        # Priced entries of projects without a client currency are in the
        # organization's: relabelling them is refused (409 currency_in_use).
        from django_tenants.utils import tenant_context

        from apps.time_entries.money import refuse_currency_change

        with tenant_context(org):
            refuse_currency_change(
                old=org.currency,
                new=data["currency"],
                entries=Q(project__client__isnull=True) | Q(project__client__currency=""),
                what="Changing the organization's currency",
                field="currency",
            )
    for field in changed:
        setattr(org, field, data[field])
    org.full_clean(exclude=["schema_name", "slug", "status"])
    org.save(update_fields=[*changed, "updated_at"])
    if org.default_hourly_rate != old_default_rate:
        _rates_changed(organization=org)
    return org


def _rates_changed(*, organization: Organization, user_id: Any | None = None) -> None:
    """Time entries snapshot rates: queue the recompute of the organization's
    (or one member's) unlocked entries after commit (apps.time_entries)."""
    from apps.time_entries.services import enqueue_rate_recompute

    enqueue_rate_recompute(organization=organization, user_id=user_id)


#: Member fields that ``member_update_terms`` sets (admin+).
MEMBER_TERMS_FIELDS = ("hourly_rate", "weekly_expected_hours")


def member_update_terms(
    *, actor: Membership, membership: Membership, data: dict[str, Any]
) -> Membership:
    """Set a member's default ``hourly_rate`` and/or ``weekly_expected_hours``
    (admins; owners' terms only by owners). A rate change queues the
    recompute of the member's unlocked time entries."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=membership.pk)
        )
        _check_may_manage(actor, membership)
        old_rate = membership.hourly_rate
        changed = [f for f in MEMBER_TERMS_FIELDS if f in data]
        for field in changed:
            setattr(membership, field, data[field])
        membership.save(update_fields=[*changed, "updated_at"])
        if membership.hourly_rate != old_rate:
            _rates_changed(organization=membership.organization, user_id=membership.user_id)
    return membership


# --- members -------------------------------------------------------------------


def _owners_left(organization_id: Any, excluding: Membership) -> int:
    """Active owners other than ``excluding``, with their rows locked.

    The rows are fetched (not counted: Django drops ``FOR UPDATE`` from a
    ``count()``) so that two owners demoting each other at the same time
    serialise here and cannot leave the organization without an owner.
    """
    owners = (
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.OWNER, status=MembershipStatus.ACTIVE)
        .exclude(pk=excluding.pk)
        .values_list("pk", flat=True)
    )
    return len(list(owners))


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


# --- invitations ---------------------------------------------------------------
#
# An invitation carries a random token that is emailed once and stored only as
# a SHA-256 hash. Accepting takes a row lock on the invitation, so of two
# concurrent accepts of the same token exactly one wins; the other then finds
# it accepted. "Expired" is derived from ``expires_at`` (see InvitationStatus).

#: One message for unknown, used and revoked tokens, so a caller cannot tell
#: which of them they hold (no probing of the token space or of past invites).
INVITATION_INVALID_MESSAGE = "This invitation link is not valid: it may have been used or revoked."


class InvitationInvalidError(ApplicationError):
    code = "invitation_invalid"


class InvitationExpiredError(ApplicationError):
    code = "invitation_expired"


class InvitationEmailMismatchError(ApplicationError):
    code = "invitation_email_mismatch"


class AlreadyMemberError(ApplicationError):
    code = "already_member"


def _new_invitation_token() -> tuple[str, str]:
    """A fresh raw token (256 random bits, URL-safe) and its stored hash."""
    raw_token = secrets.token_urlsafe(32)
    return raw_token, Invitation.hash_token(raw_token)


def _check_may_invite(actor: Membership, role: str | None = None) -> None:
    """Admins invite; only owners invite owners (or touch owner invitations),
    the same rule as ``_check_may_manage`` for members: nobody hands out more
    power than they hold."""
    if actor.status != MembershipStatus.ACTIVE or not role_has(actor.role, "invitations.manage"):
        raise ApplicationError(
            "Only admins can invite people.", code="role_required", status_code=403
        )
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise ApplicationError(
            "Only owners can invite owners.", code="owner_required", status_code=403
        )


def _refuse_active_member(organization_id: Any, email: str) -> None:
    if Membership.objects.filter(
        organization_id=organization_id,
        user__email__iexact=email,
        status=MembershipStatus.ACTIVE,
    ).exists():
        raise AlreadyMemberError(
            "This person is already a member of the organization.",
            extra={"fields": {"email": ["Already a member of this organization."]}},
        )


def _locked_invitation_of(actor: Membership, invitation: Invitation) -> Invitation:
    """Re-read ``invitation`` under a row lock; another organization's is unknown."""
    locked = (
        Invitation.objects.select_for_update()
        .filter(pk=invitation.pk, organization_id=actor.organization_id)
        .first()
    )
    if locked is None:
        raise ApplicationError("No such invitation.", code="not_found", status_code=404)
    return locked


def _send_invitation_on_commit(invitation: Invitation, raw_token: str) -> None:
    """Email after commit, by id. Not a Celery task on purpose: the raw token
    would otherwise sit in the broker. ``robust``: a mail server failure is
    logged (Sentry) instead of turning a committed invitation into a 500; the
    admin can resend."""
    invitation_id = invitation.pk
    transaction.on_commit(
        lambda: invitation_email_send(invitation_id=invitation_id, raw_token=raw_token),
        robust=True,
    )


def invitation_create(
    *, actor: Membership, email: str, role: str = Role.MEMBER
) -> tuple[Invitation, str]:
    """Invite ``email`` into the actor's organization with ``role`` and email a link.

    Returns the invitation and the raw token (only ever emailed; the row holds
    its hash). Inviting an address that already has a pending invitation
    re-issues that one (new token, role, expiry; the old link stops working)
    rather than adding a second live token. Refuses an active member (400
    ``already_member``), non-admins (403 ``role_required``) and admins inviting
    an owner (403 ``owner_required``).
    """
    _check_may_invite(actor)  # role_required comes before any look at the input
    email = get_user_model().objects.normalize_login(email)
    field_errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        field_errors["email"] = ["Enter a valid email address."]
    if role not in Role.values:
        field_errors["role"] = [f"Choose one of: {', '.join(Role.values)}."]
    if field_errors:
        raise ApplicationError("Invalid input.", code="invalid", extra={"fields": field_errors})
    _check_may_invite(actor, role)
    raw_token, token_hash = _new_invitation_token()
    with transaction.atomic():
        _refuse_active_member(actor.organization_id, email)
        invitation = (
            Invitation.objects.select_for_update()
            .pending()
            .filter(organization_id=actor.organization_id, email=email)
            .first()
        )
        if invitation is None:
            try:
                with transaction.atomic():  # savepoint: the unique index may refuse
                    invitation = Invitation.objects.create(
                        organization_id=actor.organization_id,
                        email=email,
                        role=role,
                        token_hash=token_hash,
                        invited_by_id=actor.user_id,
                    )
            except IntegrityError as exc:
                raise ConflictError(
                    "This address was invited at the same moment by someone else.",
                    code="invitation_pending",
                ) from exc
        else:
            _check_may_invite(actor, invitation.role)  # an admin can't rewrite an owner invite
            invitation.role = role
            invitation.token_hash = token_hash
            invitation.invited_by_id = actor.user_id
            invitation.expires_at = invitation_default_expiry()
            invitation.save(
                update_fields=["role", "token_hash", "invited_by", "expires_at", "updated_at"]
            )
        _send_invitation_on_commit(invitation, raw_token)
    logger.info("invitation %s issued for organization %s", invitation.pk, actor.organization_id)
    return invitation, raw_token


def invitation_resend(*, actor: Membership, invitation: Invitation) -> tuple[Invitation, str]:
    """Email a pending (possibly expired) invitation again with a new token and
    a new expiry; the previous link stops working. Not pending → 409."""
    with transaction.atomic():
        invitation = _locked_invitation_of(actor, invitation)
        _check_may_invite(actor, invitation.role)
        if invitation.status != InvitationStatus.PENDING:
            raise ConflictError(
                f"This invitation is {invitation.status}: invite the person again instead.",
                code="invitation_not_pending",
            )
        _refuse_active_member(invitation.organization_id, invitation.email)
        raw_token, invitation.token_hash = _new_invitation_token()
        invitation.expires_at = invitation_default_expiry()
        invitation.save(update_fields=["token_hash", "expires_at", "updated_at"])
        _send_invitation_on_commit(invitation, raw_token)
    return invitation, raw_token


def invitation_revoke(*, actor: Membership, invitation: Invitation) -> Invitation:
    """Revoke a pending (possibly expired) invitation: its link stops working.

    The row is kept (status ``revoked``) as a record of who was invited.
    Already accepted or revoked → 409 ``invitation_not_pending``.
    """
    with transaction.atomic():
        invitation = _locked_invitation_of(actor, invitation)
        _check_may_invite(actor, invitation.role)
        if invitation.status != InvitationStatus.PENDING:
            raise ConflictError(
                f"This invitation is already {invitation.status}.",
                code="invitation_not_pending",
            )
        invitation.status = InvitationStatus.REVOKED
        invitation.save(update_fields=["status", "updated_at"])
    return invitation


def _invitation_register(*, email: str, password: str, first_name: str, last_name: str) -> Any:
    """Create the invitee's account. Their email is verified: they received the
    token there. An existing account must log in and accept instead, so that
    an invitation link never becomes a way into somebody's account."""
    User = get_user_model()
    taken = ApplicationError(
        "An account with this email exists: log in, then accept the invitation.",
        code="email_taken",
    )
    if (
        User.objects.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(email__iexact=email, verified=True).exists()
    ):
        raise taken
    if not password:
        raise ApplicationError(
            "Choose a password to create your account.",
            code="invalid",
            extra={"fields": {"password": ["This field is required."]}},
        )
    new_user_password_check(
        password=password, email=email, first_name=first_name, last_name=last_name
    )
    try:
        with transaction.atomic():  # savepoint: a concurrent signup may take the email
            user = User.objects.create_user(
                email=email, password=password, first_name=first_name, last_name=last_name
            )
    except IntegrityError as exc:
        raise taken from exc
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def _membership_join(*, organization_id: Any, user: Any, role: str) -> Membership:
    """Add ``user`` with ``role`` (:func:`_seat`); an active member is refused
    (409 ``already_member``)."""
    membership, seated = _seat(organization_id=organization_id, user=user, role=role)
    if seated == "active":
        raise AlreadyMemberError("You are already a member of this organization.")
    return membership


def invitation_accept(
    *,
    raw_token: str,
    user: Any | None = None,
    password: str = "",
    first_name: str = "",
    last_name: str = "",
) -> Membership:
    """Join the invitation's organization: as the logged-in ``user`` (whose
    email must be the invited one), or as a new account created from
    ``password``/names when ``user`` is None.

    Unknown, used and revoked tokens all give 400 ``invitation_invalid`` with
    the same message; a pending one past its expiry gives 400
    ``invitation_expired``. The invitation row is locked for the whole
    transaction, which is what makes the token single-use under concurrency.
    """
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(token_hash=Invitation.hash_token(raw_token or ""))
            .first()
        )
        if (
            invitation is None
            or invitation.status != InvitationStatus.PENDING
            or not invitation.organization.is_serving
        ):
            raise InvitationInvalidError(INVITATION_INVALID_MESSAGE)
        if invitation.is_expired:
            raise InvitationExpiredError(
                "This invitation has expired: ask an administrator to send a new one."
            )
        if user is None:
            user = _invitation_register(
                email=invitation.email,
                password=password,
                first_name=first_name,
                last_name=last_name,
            )
        elif get_user_model().objects.normalize_login(user.email) != invitation.email:
            raise InvitationEmailMismatchError(
                "This invitation was sent to another email address: "
                "log in with that address to accept it."
            )
        membership = _membership_join(
            organization_id=invitation.organization_id, user=user, role=invitation.role
        )
        invitation.status = InvitationStatus.ACCEPTED
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["status", "accepted_at", "accepted_by", "updated_at"])
        _notify(membership, "added")
    logger.info("invitation %s accepted by %s", invitation.pk, user.pk)
    return membership
