"""``manage.py staff_two_factor_bootstrap <email> [--reset]``: one operator code.

Prints a single-use code for a staff account (first login to the admin
console, or the API login's ``otp``) after revoking every API token and
session of the account, so nothing obtained with the password alone can use
it to enrol an authenticator. ``--reset`` also deletes the account's devices
(lost phone and backup codes). See ``apps.iam.two_factor.staff_two_factor_bootstrap``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import ApplicationError
from apps.iam.models import User
from apps.iam.two_factor import staff_two_factor_bootstrap


class Command(BaseCommand):
    help = (
        "Revoke a staff account's API tokens and sessions, then print one single-use "
        "two-factor code for it (shown once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The staff account (any case).")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also delete every existing two-factor device (lost phone and backup codes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError(f'User "{options["email"]}" does not exist.')
        try:
            code = staff_two_factor_bootstrap(user=user, reset=bool(options["reset"]))
        except ApplicationError as exc:  # not staff: members enrol through the API
            raise CommandError(f'User "{user.email}": {exc.message}') from exc
        self.stdout.write(code)
