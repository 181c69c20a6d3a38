"""Identity: the platform-wide user (public schema).

A user exists once for the whole platform; what they may do in an
organization comes from their membership there, not from this row. The model
is custom from the first migration because swapping ``AUTH_USER_MODEL`` later
is painful.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone

from apps.common.validators import validate_timezone


class UserManager(BaseUserManager["User"]):
    """Creates users with a normalised (lower-case) email as the login."""

    use_in_migrations = True

    @staticmethod
    def normalize_login(email: str) -> str:
        return (email or "").strip().lower()

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=self.normalize_login(username or ""))

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        email = self.normalize_login(email)
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who can log in. Email is the login, unique ignoring case."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    #: The web app's language (settings.LANGUAGES); empty: the browser's
    #: Accept-Language, else the site default (apps.iam.middleware).
    language = models.CharField(max_length=8, blank=True, default="", choices=settings.LANGUAGES)
    avatar_url = models.URLField(blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Platform staff: may use the admin console."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="iam_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = UserManager.normalize_login(self.email)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


class AuthToken(models.Model):
    """An API token: one per login/device, stored hashed.

    Unlike DRF's one-token-per-user model, each login gets its own token, so
    logging out (or a password change) can revoke one device or all others
    without touching the rest. Only a SHA-256 of the key is stored: a leaked
    database does not leak usable tokens.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters, to recognise a token.")
    name = models.CharField(max_length=200, blank=True, help_text="Client or device.")
    created_at = models.DateTimeField(default=dj_timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    #: The raw key, only on a token just made by ``tokens.token_create`` (for
    #: dj-rest-auth's login response to read); never stored.
    key: str

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.prefix}…"


class SignInLink(models.Model):
    """A single-use, short-lived sign-in link from the public host to one
    organization's host (sessions are per host: apps/iam/web/links.py).

    Only a SHA-256 of the key is stored; ``used_at`` is set by one conditional
    UPDATE, so a replayed link (even a concurrent one) signs in at most once.
    The organization is a plain id: the table lives in the public schema with
    the users, and ``apps.organizations`` depends on this app, not the reverse.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="signin_links")
    organization_id = models.UUIDField()
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="iam_signinlink_expires")]

    def __str__(self) -> str:
        return f"{self.user} → {self.organization_id}"
