"""Optional TOTP two-factor authentication (django-otp), with backup codes.

A user turns it on in two steps so that a typo in the authenticator app cannot
lock them out: ``two_factor_setup`` stores an *unconfirmed* TOTP device and
hands out its secret; only ``two_factor_confirm`` with a code computed from
that secret makes it count. Confirmation also issues single-use backup codes
(a django-otp ``StaticDevice``), shown once.

Every code is checked through ``django_otp.verify_token``: it locks the device
row, refuses a TOTP code at or before the last accepted time step (replay
protection) and applies django-otp's exponential throttling after failures.
Failed attempts are written to the device, so callers must not raise inside a
transaction that would roll that write back.

Devices live in the public schema with the user: two-factor is per person,
not per organization (an organization can only *require* it, see
``apps.organizations.permissions``).
"""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass

import django_otp
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.errors import ApplicationError, ConflictError, PermissionDeniedError

from .models import User

#: Name of the (single) TOTP device of a user, and of the backup-code device.
TOTP_DEVICE_NAME = "default"
BACKUP_DEVICE_NAME = "backup"
#: Backup codes issued on confirmation (each works once).
BACKUP_CODE_COUNT = 10


@dataclass(frozen=True)
class TwoFactorSetup:
    """What an authenticator app needs: the base32 secret and the same secret
    as an ``otpauth://`` URL (for a QR code)."""

    secret: str
    otpauth_url: str


def _otp_invalid() -> ApplicationError:
    return ApplicationError(gettext("The code is not valid."), code="otp_invalid")


def _not_set_up() -> ApplicationError:
    return ApplicationError(
        gettext("Two-factor authentication is not set up."), code="two_factor_not_set_up"
    )


def _already_enabled() -> ApplicationError:
    return ConflictError(
        gettext("Two-factor authentication is already enabled."),
        code="two_factor_already_enabled",
    )


def normalize_code(code: str) -> str:
    """Codes as people type them: spaces and dashes dropped, backup codes
    compared lower-case (they are issued lower-case)."""
    return "".join(str(code or "").split()).replace("-", "").lower()


# --- selectors -----------------------------------------------------------------


def two_factor_enabled(*, user: User) -> bool:
    """Whether ``user`` has a *confirmed* TOTP device (one query).

    Static codes alone do not count: backup codes exist next to a confirmed
    TOTP device, and an operator's code (``staff_two_factor_bootstrap``) is a
    way in to enrol, not a second factor the user holds. Checking the one
    table keeps the organization permission check at a single query. Whether
    a *login* needs a code is ``two_factor_login_required`` (any device).
    """
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def two_factor_pending(*, user: User) -> TwoFactorSetup | None:
    """The enrolment ``two_factor_setup`` started and nobody confirmed yet
    (its secret, for the account page to show again), or ``None`` (one query).
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        return None
    return _setup_of(device)


def _setup_of(device: TOTPDevice) -> TwoFactorSetup:
    return TwoFactorSetup(
        secret=b32encode(device.bin_key).decode("ascii"), otpauth_url=device.config_url
    )


def two_factor_login_required(*, user: User) -> bool:
    """Whether a login of ``user`` must give a code: any *confirmed* device of
    any django-otp device class (TOTP, backup/operator codes, ...).

    Wider than ``two_factor_enabled`` on purpose: an operator-issued static
    code (``staff_two_factor_bootstrap``, ``addstatictoken``) exists without a
    TOTP device, and a password-only login must not get past it (the token it
    yields could otherwise enrol an attacker's authenticator).
    """
    return django_otp.user_has_device(user, confirmed=True)


def _staff_enrolment_check(*, user: User) -> None:
    """Staff may enrol only after proving an existing second factor.

    A staff account's first device makes the admin console reachable, so it
    must not be set up from a password alone: staff need a confirmed device
    first, i.e. an operator-issued code (``manage.py
    staff_two_factor_bootstrap``), which the API login then demands
    (``two_factor_login_required``).
    """
    if user.is_staff and not two_factor_login_required(user=user):
        raise PermissionDeniedError(
            gettext(
                "Staff accounts turn two-factor on only after logging in with a one-time "
                "code from an operator (manage.py staff_two_factor_bootstrap)."
            ),
            code="staff_enrolment_needs_operator_code",
        )


# --- services ------------------------------------------------------------------


def two_factor_setup(*, user: User) -> TwoFactorSetup:
    """Start (or restart) turning two-factor on: a new unconfirmed TOTP device.

    A pending device from an earlier, abandoned setup is replaced, so only the
    secret shown last can be confirmed. Refused with 409 once two-factor is on:
    rotating the secret of an active device would silently invalidate the
    user's authenticator (disable first, then set up again). Staff without
    any confirmed device are refused with 403
    ``staff_enrolment_needs_operator_code`` (``_staff_enrolment_check``).
    """
    _staff_enrolment_check(user=user)
    with transaction.atomic():
        devices = TOTPDevice.objects.select_for_update().filter(user=user)
        if any(device.confirmed for device in devices):
            raise _already_enabled()
        devices.delete()
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return _setup_of(device)


def two_factor_confirm(*, user: User, code: str) -> list[str]:
    """Turn two-factor on once ``code`` proves the authenticator has the secret.

    Returns the new backup codes: this is the only time they are shown (only
    django-otp's copy is stored, and each is deleted when used). A wrong code
    leaves the device unconfirmed and counts for django-otp's throttling.
    Staff without any confirmed device are refused like in ``two_factor_setup``.
    """
    _staff_enrolment_check(user=user)
    with transaction.atomic():
        # Locks the user's TOTP rows so two confirmations cannot both succeed.
        devices = list(TOTPDevice.objects.select_for_update().filter(user=user))
        if any(device.confirmed for device in devices):
            raise _already_enabled()
        if not devices:
            raise _not_set_up()
        verified = django_otp.verify_token(user, devices[0].persistent_id, normalize_code(code))
        backup_codes: list[str] = []
        if verified is not None:
            # ``verified`` is the instance verify_token saved (last_t, drift):
            # save only ``confirmed`` so that state is not overwritten.
            verified.confirmed = True
            verified.save(update_fields=["confirmed"])
            backup_codes = _backup_codes_replace(user=user)
    # Raised outside the block: the throttling counter verify_token wrote on
    # failure must be committed, not rolled back with the error.
    if verified is None:
        raise _otp_invalid()
    return backup_codes


def _backup_codes_replace(*, user: User) -> list[str]:
    """A fresh set of backup codes (any earlier set, operator codes included,
    is deleted)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def staff_two_factor_bootstrap(*, user: User, reset: bool = False) -> str:
    """One operator-issued, single-use code for staff ``user``; returns it.

    Every API token and session of the user is revoked first: one obtained
    earlier with the password alone must not be able to enrol once a device
    exists (``_staff_enrolment_check`` accepts any confirmed device). The
    code goes on the user's static device (created confirmed if missing), so
    it is the device the code's shape picks (``two_factor_device_for_code``).
    ``reset`` first deletes every OTP device of the user (a lost phone): the
    code then logs in and the user enrols again.
    """
    from django.contrib.sessions.models import Session

    from .tokens import tokens_revoke

    if not user.is_staff:
        raise PermissionDeniedError(
            "The account is not staff: members enrol through the API themselves.", code="not_staff"
        )
    with transaction.atomic():
        tokens_revoke(user=user)
        # The database backend keeps no index by user: decode the live ones.
        user_id = str(user.pk)
        stale = [
            session.pk
            for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if str(session.get_decoded().get("_auth_user_id")) == user_id
        ]
        Session.objects.filter(pk__in=stale).delete()
        if reset:
            _devices_delete(user=user)
        device = StaticDevice.objects.filter(user=user).order_by("id").first()
        if device is None:
            device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        elif not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        code = StaticToken.random_token()
        StaticToken.objects.create(device=device, token=code)
    return code


def two_factor_device_for_code(*, user: User, code: str) -> Device | None:
    """The confirmed device of ``user`` that ``code`` is meant for (not checked).

    The code's shape picks the device: digits go to the authenticator, anything
    else to the backup codes. A mistyped TOTP code then does not also throttle
    the backup codes (and vice versa), which trying every device would do.
    ``None``: an empty code, or no confirmed device of that kind. Used by the
    API login (below) and the admin console's login form (``admin_site``).
    """
    code = normalize_code(code)
    if not code:
        return None
    totp = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    if code.isdigit() and totp is not None and len(code) <= totp.digits:
        return totp
    return StaticDevice.objects.devices_for_user(user, confirmed=True).first()


def two_factor_verified_device(*, user: User, code: str) -> Device | None:
    """The confirmed device that accepts ``code`` (TOTP or backup code), or ``None``.

    The device is chosen by the code's shape (``two_factor_device_for_code``).
    A device that is throttled refuses even a right code until its delay
    passes. A successful check consumes the code (TOTP time step or backup code).
    """
    device = two_factor_device_for_code(user=user, code=code)
    if device is None:
        return None
    return django_otp.verify_token(user, device.persistent_id, normalize_code(code))


def two_factor_verify(*, user: User, code: str) -> bool:
    """Whether ``code`` is a valid TOTP or backup code of ``user`` (consuming it)."""
    return two_factor_verified_device(user=user, code=code) is not None


def two_factor_disable(*, user: User, code: str) -> None:
    """Turn two-factor off: every OTP device of ``user`` is deleted.

    Requires a current TOTP or backup code, so a stolen session or token alone
    cannot remove the second factor.
    """
    if not two_factor_enabled(user=user):
        raise _not_set_up()
    if not two_factor_verify(user=user, code=code):
        raise _otp_invalid()
    _devices_delete(user=user)


def _devices_delete(*, user: User) -> None:
    """Every OTP device of ``user``, of every django-otp device class."""
    with transaction.atomic():
        for model in django_otp.device_classes():
            model.objects.filter(user=user).delete()
