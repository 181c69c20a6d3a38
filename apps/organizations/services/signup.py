"""Creating organizations: the operators' ``organization_create`` and the
public signup. Each is all-or-nothing: schema, domain, owner membership.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from apps.common.errors import ApplicationError
from apps.iam.models import User
from apps.iam.services import new_user_password_check
from tenants.provisioning import Provisioned, TenantError, provision_tenant

from ..constants import Role
from ..models import Membership, Organization
from .members import _notify, member_ensure

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class SignupResult:
    organization: Organization
    user: User
    created_user: bool


def organization_signup(
    *,
    organization_name: str,
    slug: str,
    user: User | None = None,
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
