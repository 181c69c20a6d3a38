"""Rules for organization slugs, which become DNS labels (``<slug>.<base>``)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SLUG_MIN_LENGTH = 3
SLUG_MAX_LENGTH = 40
# A DNS label: lower-case letters, digits and inner hyphens.
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")

#: Host names the platform keeps for itself or that invite phishing.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "dashboard",
        "dev",
        "docs",
        "ftp",
        "help",
        "imap",
        "login",
        "mail",
        "media",
        "novatime",
        "public",
        "root",
        "signup",
        "smtp",
        "staff",
        "staging",
        "static",
        "status",
        "support",
        "system",
        "template",
        "test",
        "webhooks",
        "www",
        "ws",
    }
)


def validate_slug(slug: str) -> str:
    """Return the normalised slug or raise ``ValidationError`` with a code.

    Codes: ``slug_length``, ``slug_invalid``, ``slug_reserved``. Uniqueness is
    checked by the caller against the database (``slug_taken``).
    """
    value = (slug or "").strip().lower()
    if not SLUG_MIN_LENGTH <= len(value) <= SLUG_MAX_LENGTH:
        raise ValidationError(
            f"The slug must be {SLUG_MIN_LENGTH}-{SLUG_MAX_LENGTH} characters long.",
            code="slug_length",
        )
    if not _DNS_LABEL.match(value) or "--" in value[2:4]:
        # "xn--" style labels are IDNA-encoded; refusing "??--" avoids lookalikes.
        raise ValidationError(
            "The slug may contain lower-case letters, digits and hyphens, and must "
            "start and end with a letter or digit.",
            code="slug_invalid",
        )
    if value in RESERVED_SLUGS or value.startswith(("t-", "tpl")):
        raise ValidationError("This slug is reserved.", code="slug_reserved")
    return value
