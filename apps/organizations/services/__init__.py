"""Writes for organizations, one module per subject:

- ``signup``: creating organizations (operators' ``organization_create``,
  the public ``organization_signup``);
- ``settings``: ``organization_update``;
- ``members``: seats (``member_ensure``), roles, terms, leaving, ownership;
- ``invitations``: issue, resend, revoke, accept;
- ``lifecycle``: an operator's suspension and resumption.

The public names are re-exported here (``config.settings`` names some by
their dotted path).
"""

from .invitations import (
    INVITATION_INVALID_MESSAGE,
    AlreadyMemberError,
    InvitationEmailMismatchError,
    InvitationExpiredError,
    InvitationInvalidError,
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    invitation_usable,
)
from .lifecycle import SUSPENDABLE_STATUSES, organization_resume, organization_suspend
from .members import (
    MEMBER_TERMS_FIELDS,
    member_change_role,
    member_ensure,
    member_remove,
    member_update_terms,
    ownership_transfer,
)
from .settings import OWNER_ONLY_SETTINGS, SETTINGS_FIELDS, organization_update
from .signup import SignupResult, organization_create, organization_signup

__all__ = [
    "INVITATION_INVALID_MESSAGE",
    "MEMBER_TERMS_FIELDS",
    "OWNER_ONLY_SETTINGS",
    "SETTINGS_FIELDS",
    "SUSPENDABLE_STATUSES",
    "AlreadyMemberError",
    "InvitationEmailMismatchError",
    "InvitationExpiredError",
    "InvitationInvalidError",
    "SignupResult",
    "invitation_accept",
    "invitation_create",
    "invitation_resend",
    "invitation_revoke",
    "invitation_usable",
    "member_change_role",
    "member_ensure",
    "member_remove",
    "member_update_terms",
    "organization_create",
    "organization_resume",
    "organization_signup",
    "organization_suspend",
    "organization_update",
    "ownership_transfer",
]
