"""Invitations: issue, resend, revoke and accept.

An invitation carries a random token that is emailed once and stored only as
a SHA-256 hash. Accepting takes a row lock on the invitation, so of two
concurrent accepts of the same token exactly one wins; the other then finds
it accepted. "Expired" is derived from ``expires_at`` (see InvitationStatus).
"""

from __future__ import annotations

import logging
import secrets
from uuid import UUID

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError, NotFoundError, RoleRequiredError
from apps.iam.models import User
from apps.iam.services import new_user_password_check

from ..constants import MembershipStatus, Role
from ..emails import invitation_email_send
from ..models import Invitation, InvitationStatus, Membership, invitation_default_expiry
from ..permissions import require
from .members import _notify, _seat

logger = logging.getLogger(__name__)


#: One message for unknown, used and revoked tokens, so a caller cannot tell
#: which of them they hold (no probing of the token space or of past invites).
INVITATION_INVALID_MESSAGE = "This invitation link is not valid: it may have been used or revoked."


class InvitationInvalidError(ApplicationError):
    code = "invitation_invalid"


class InvitationExpiredError(ApplicationError):
    code = "invitation_expired"


class InvitationEmailMismatchError(ApplicationError):
    code = "invitation_email_mismatch"


class AlreadyMemberError(ConflictError):
    """409: the person is already an active member (the status of
    ``member_exists``, a project's equivalent)."""

    code = "already_member"


def _new_invitation_token() -> tuple[str, str]:
    """A fresh raw token (256 random bits, URL-safe) and its stored hash."""
    raw_token = secrets.token_urlsafe(32)
    return raw_token, Invitation.hash_token(raw_token)


def _check_may_invite(actor: Membership, role: str | None = None) -> None:
    """Admins invite; only owners invite owners (or touch owner invitations),
    the same rule as ``_check_may_manage`` for members: nobody hands out more
    power than they hold."""
    if actor.status != MembershipStatus.ACTIVE:
        raise RoleRequiredError("invitations.manage")
    require(actor, "invitations.manage")
    if role == Role.OWNER:
        require(actor, "owners.manage")


def _refuse_active_member(organization_id: UUID, email: str) -> None:
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
        raise NotFoundError("No such invitation.")
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
    rather than adding a second live token. Refuses an active member (409
    ``already_member``), non-admins (403 ``role_required``, ``invitations.manage``)
    and admins inviting an owner (403 ``role_required``, ``owners.manage``).
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


def _invitation_register(*, email: str, password: str, first_name: str, last_name: str) -> User:
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


def _membership_join(*, organization_id: UUID, user: User, role: str) -> Membership:
    """Add ``user`` with ``role`` (:func:`_seat`); an active member is refused
    (409 ``already_member``)."""
    membership, seated = _seat(organization_id=organization_id, user=user, role=role)
    if seated == "active":
        raise AlreadyMemberError("You are already a member of this organization.")
    return membership


def _refuse_unusable(invitation: Invitation | None) -> Invitation:
    """The invitation if a token for it can be accepted: unknown, used,
    revoked and not-serving organizations give ``invitation_invalid`` (one
    message), a pending one past its expiry ``invitation_expired``."""
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
    return invitation


def invitation_usable(*, raw_token: str) -> Invitation:
    """The invitation ``raw_token`` would accept (with its organization), or
    the error :func:`invitation_accept` would give: what the web page shows
    before the invitee acts. A read, without the accept's row lock."""
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(token_hash=Invitation.hash_token(raw_token or ""))
        .first()
    )
    return _refuse_unusable(invitation)


def invitation_accept(
    *,
    raw_token: str,
    user: User | None = None,
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
        invitation = _refuse_unusable(invitation)
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
