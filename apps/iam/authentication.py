"""DRF authentication with hashed, per-login tokens (``Authorization: Token <key>``)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from .middleware import activate_user_language
from .models import AuthToken, User
from .tokens import token_for_key


def authenticated_user(request: Request) -> User:
    """``request.user`` in a view behind ``IsAuthenticated``, as a ``User``.

    The stubs type it ``User | AnonymousUser``; the permission has already
    turned anonymous requests away, so this only narrows the type (and keeps
    the API's 401 should a view ever lack the permission).
    """
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


class HashedTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[User, AuthToken] | None:
        result = super().authenticate(request)
        if result is not None:
            # The API's messages in the user's language (the locale middleware
            # ran before DRF knew the caller: apps/iam/middleware.py).
            activate_user_language(result[0])
        return result

    def authenticate_credentials(self, key: str) -> tuple[User, AuthToken]:
        token = token_for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
