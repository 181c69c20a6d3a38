"""The platform admin console's site: staff need a second factor.

``NovaTimeAdminSite`` is the default admin site (``admin.site``, set through
``apps.iam.admin_config.NovaTimeAdminConfig`` in ``INSTALLED_APPS``), so every
``@admin.register`` of the project lands on it. It is django-otp's
``OTPAdminSite``: with ``NOVATIME_ADMIN_REQUIRE_OTP`` on (the default),

- ``has_permission`` also requires ``request.user.is_verified()``: the session
  was verified with one of the user's confirmed OTP devices (the login form
  below, or the API login with ``otp``). A signed-in staff member whose
  session is not verified is sent to the login page like an outsider;
- the login form asks for email, password and a two-factor code: a code from
  the authenticator app (TOTP) or a backup code, picked by its shape as the
  API login does, so staff never have to choose a device.

The setting is read on every request, so turning it off (development only)
gives back Django's password-only console without a restart of anything else.

The login lockout still applies (``apps.iam.lockout``): the password is checked
through ``authenticate()``, which refuses a locked account or address and
counts a wrong password; a wrong code after the right password counts too, as
on the API login. django-otp's own throttling delays the device on top.

Staff cannot enrol from a password alone: an operator issues a single-use
code with ``manage.py staff_two_factor_bootstrap <email>`` (which also revokes
the account's tokens and sessions); with it the staff member logs in (here or
through the API with ``otp``) and turns two-factor on through the API
(apps/iam/README.md, deploy/README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django_otp import user_has_device
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.models import Device

from apps.iam import lockout
from apps.iam.two_factor import normalize_code, two_factor_device_for_code

if TYPE_CHECKING:
    from apps.iam.models import User

#: The fields django-otp's form adds to the admin's email + password
#: (``otp_device`` is dropped, see ``StaffLoginForm``).
OTP_FIELDS = ("otp_token", "otp_challenge")


def admin_requires_otp() -> bool:
    """Whether the console wants a verified second factor (read per request)."""
    return bool(getattr(settings, "NOVATIME_ADMIN_REQUIRE_OTP", True))


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Email, password and two-factor code in one submit.

    django-otp's form needs the device chosen in a second round trip (it no
    longer tries every device); here the code's shape picks it, like the API
    login (``apps.iam.two_factor.two_factor_device_for_code``). django-otp's
    ``otp_device`` field is dropped (the page never renders it): a posted
    device id is ignored, so a malformed or foreign one cannot pick a device
    or break the form.
    """

    otp_device = None  # removes django-otp's declared field

    otp_token = forms.CharField(
        required=False,
        max_length=32,
        label="Two-factor code",
        help_text="From your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": "Enter the code from your authenticator app (or a backup code).",
        "invalid_token": "The two-factor code is not valid.",
        "not_set_up": (
            "The admin console requires two-factor authentication, and this account has "
            "none yet. Ask an operator for a one-time code "
            "(manage.py staff_two_factor_bootstrap)."
        ),
    }

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        if not admin_requires_otp():
            for name in OTP_FIELDS:
                self.fields.pop(name, None)

    def _update_form(self, user: User) -> None:
        """django-otp fills the device list and echoes the password back into
        the page after a refused code; this page has no device list, and a
        password never travels back to the browser."""

    def clean_otp_token(self) -> str:
        return normalize_code(self.cleaned_data.get("otp_token") or "")

    def clean(self) -> dict[str, Any]:
        if not admin_requires_otp():
            return AdminAuthenticationForm.clean(self)
        cleaned: dict[str, Any] = super().clean()
        return cleaned

    def clean_otp(self, user: User) -> None:
        if user is not None and not user_has_device(user, confirmed=True):
            raise forms.ValidationError(self.otp_error_messages["not_set_up"], code="not_set_up")
        super().clean_otp(user)

    def _chosen_device(self, user: User) -> Device | None:
        """The user's confirmed device for the code's shape (never a posted id)."""
        code = self.cleaned_data.get("otp_token") or ""
        device = two_factor_device_for_code(user=user, code=code)
        if device is not None:
            # Locked like django-otp's own lookup (clean_otp runs in a
            # transaction), so two logins cannot both spend one code.
            device = Device.from_persistent_id(device.persistent_id, for_verify=True)
        return device

    def _verify_token(self, user: User, token: str, device: Device | None = None) -> Device:
        try:
            if device is None:  # the user has no device for a code of this shape
                raise forms.ValidationError(
                    self.otp_error_messages["invalid_token"], code="invalid_token"
                )
            verified: Device = super()._verify_token(user, token, device)
        except forms.ValidationError as exc:
            if exc.code == "invalid_token":
                # The right password with a wrong code is a failed login.
                lockout.record_failure(email=user.email, request=self.request)
            raise
        return verified


class NovaTimeAdminSite(OTPAdminSite):
    """``admin.site``: django-otp's ``OTPAdminSite`` when
    ``NOVATIME_ADMIN_REQUIRE_OTP`` is on, Django's ``AdminSite`` when off."""

    # The console's own name; "View site" is hidden: the public host has no web
    # page at "/" (it serves the API).
    site_header = "NovaTime platform admin"
    site_title = "NovaTime admin"
    index_title = "Platform administration"
    site_url = None

    login_form = StaffLoginForm
    login_template = "iam/admin_login.html"

    def __init__(self, name: str = "admin") -> None:
        # OTPAdminSite defaults to "otpadmin"; the URL names stay "admin:...".
        super().__init__(name)

    def has_permission(self, request: HttpRequest) -> bool:
        if admin_requires_otp():
            return bool(super().has_permission(request))
        return AdminSite.has_permission(self, request)
