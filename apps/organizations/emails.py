"""Emails sent by the organizations app (invitations).

Rendered from templates in ``templates/organizations/email/`` as plain text
with an HTML alternative, so every mail client shows something readable.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Invitation, InvitationStatus
from .selectors import public_url

logger = logging.getLogger(__name__)

_TEMPLATES = "organizations/email/invitation"


def invitation_accept_url(raw_token: str) -> str:
    """The link in the email: the public host's invitation page
    (``/invitations/<token>/``), where the invitee creates the account or
    signs in and accepts. API clients take the token from the same link and
    post it to ``POST /api/v1/invitations/accept/``."""
    path = reverse(
        "organizations_public:invitation",
        kwargs={"token": raw_token},
        urlconf=settings.PUBLIC_SCHEMA_URLCONF,
    )
    return f"{public_url().rstrip('/')}{path}"


def invitation_email_send(*, invitation_id: UUID, raw_token: str) -> bool:
    """Send the invitation email; returns whether it was sent.

    Runs after commit, so the invitation may have been revoked or re-issued in
    the meantime: a link that would no longer work is not sent.
    """
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if (
        invitation is None
        or invitation.status != InvitationStatus.PENDING
        or invitation.token_hash != Invitation.hash_token(raw_token)
    ):
        logger.info("invitation %s: stale, email not sent", invitation_id)
        return False
    inviter = invitation.invited_by
    context = {
        "organization_name": str(invitation.organization),
        "inviter_name": inviter.full_name if inviter is not None else "",
        "inviter_email": inviter.email if inviter is not None else "",
        "role": invitation.get_role_display(),
        "email": invitation.email,
        "accept_url": invitation_accept_url(raw_token),
        "expires_at": invitation.expires_at,
        "subject_prefix": getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", ""),
    }
    subject = " ".join(render_to_string(f"{_TEMPLATES}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{_TEMPLATES}.txt", context),
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string(f"{_TEMPLATES}.html", context), "text/html")
    message.send()
    return True
