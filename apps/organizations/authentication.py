"""Token authentication that, on an organization host, also loads the
caller's membership there — in the same SQL statement.

Every API request on an organization host needs both: the token (who is
calling) and the active membership in the host's organization (may they,
and with which role — ``permissions.IsOrganizationMember``). Done apart they
were two round trips and two ORM compilations on every request, a fifth of
a heartbeat's server time. Here one statement joins token, user, membership
and the membership's organization (the fresh row: its ``require_two_factor``
flag must apply from the next request, not from the cached tenant), and the
membership is left where :func:`permissions.request_membership` looks for
it. The rules are unchanged: an unknown token is 401 whatever the host; a
valid token without an active membership here is left to the permission
class (403 ``not_a_member``).
"""

from __future__ import annotations

from uuid import UUID

from django.db import connection
from django.db.models import Model
from rest_framework import exceptions
from rest_framework.request import Request

from apps.iam.authentication import HashedTokenAuthentication
from apps.iam.models import AuthToken, User
from apps.iam.tokens import hash_key, token_touch
from tenants.db import request_tenant

from .constants import REQUEST_MEMBERSHIP_ATTR, MembershipStatus
from .models import Membership, Organization

_JOINED = (
    (AuthToken, "t"),
    (User, "u"),
    (Membership, "m"),
    (Organization, "o"),
)


def _select_list() -> tuple[str, list[tuple[type[Model], list[str], slice]]]:
    """``t."id", t."user_id", …, o."slug"`` and, per model, its field
    attnames and the slice of the row that holds them."""
    columns: list[str] = []
    layout: list[tuple[type[Model], list[str], slice]] = []
    for model, alias in _JOINED:
        fields = model._meta.concrete_fields
        start = len(columns)
        columns.extend(f'{alias}."{field.column}"' for field in fields)
        layout.append((model, [field.attname for field in fields], slice(start, len(columns))))
    return ", ".join(columns), layout


_COLUMNS, _LAYOUT = _select_list()
_SQL = f"""
    SELECT {_COLUMNS}
      FROM {AuthToken._meta.db_table} t
      JOIN {User._meta.db_table} u ON u.id = t.user_id
      LEFT JOIN {Membership._meta.db_table} m
             ON m.user_id = u.id AND m.organization_id = %s AND m.status = %s
      LEFT JOIN {Organization._meta.db_table} o ON o.id = m.organization_id
     WHERE t.key_hash = %s
"""


def token_and_membership(
    key: str, organization_id: UUID
) -> tuple[AuthToken, Membership | None] | None:
    """The token of ``key`` (with its user) and the user's active membership
    in ``organization_id`` (with its organization), in one statement;
    ``None`` for an unknown key."""
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [organization_id, MembershipStatus.ACTIVE, hash_key(key)])
        row = cursor.fetchone()
    if row is None:
        return None
    (_, token_names, token_cols), (_, user_names, user_cols) = _LAYOUT[:2]
    token = AuthToken.from_db(connection.alias, token_names, row[token_cols])
    token.user = User.from_db(connection.alias, user_names, row[user_cols])
    token_touch(token)
    (_, member_names, member_cols), (_, org_names, org_cols) = _LAYOUT[2:]
    if row[member_cols.start] is None:  # no active membership here
        return token, None
    membership = Membership.from_db(connection.alias, member_names, row[member_cols])
    membership.user = token.user
    membership.organization = Organization.from_db(connection.alias, org_names, row[org_cols])
    return token, membership


class OrganizationTokenAuthentication(HashedTokenAuthentication):
    """``Authorization: Token <key>``; on an organization host, the caller's
    membership comes with the token (see the module docstring)."""

    def authenticate(self, request: Request) -> tuple[User, AuthToken] | None:
        self._organization = request_tenant(request)
        self._request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[User, AuthToken]:
        organization = getattr(self, "_organization", None)
        if organization is None or not isinstance(organization, Organization):
            return super().authenticate_credentials(key)  # public host
        found = token_and_membership(key, organization.pk)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token, membership = found
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        # Where permissions.request_membership looks first (None: not a member).
        setattr(self._request._request, REQUEST_MEMBERSHIP_ATTR, membership)
        return token.user, token
