"""Writes and checks on users shared by the flows that create accounts
(signup, invitation acceptance)."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from apps.common.errors import ApplicationError

from .models import User


def new_user_password_check(
    *, password: str, email: str, first_name: str = "", last_name: str = ""
) -> None:
    """Run Django's password validators for an account about to be created.

    Raises a 400 ``ApplicationError`` with ``fields.password`` so that every
    account-creating endpoint refuses weak passwords the same way, before
    anything is written. (The validators compare the password with the user's
    attributes, hence an unsaved user.)
    """
    try:
        validate_password(
            password, user=User(email=email, first_name=first_name, last_name=last_name)
        )
    except ValidationError as exc:
        raise ApplicationError(
            "The password is too weak.",
            code="invalid",
            extra={"fields": {"password": exc.messages}},
        ) from exc
