"""Writes for organizations: creation with an owner, status changes."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from tenants.provisioning import Provisioned, TenantError, provision_tenant

from .constants import Role
from .models import Membership

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
    with transaction.atomic():
        provisioned = provision_tenant(slug=slug, name=name, method=method, **fields)
        owner = User.objects.filter(email__iexact=email).first()
        if owner is None:
            owner = User.objects.create_user(email=email, password=owner_password)
        Membership.objects.create(user=owner, organization=provisioned.tenant, role=Role.OWNER)
    return provisioned
