"""Forms of the settings pages and the invitation page (labels are the
accessible names).

They only carry and render the fields: what is valid is decided by the API's
serializers and the services (apps/organizations/web/settings.py,
invitations.py), whose messages are put next to the fields. Every field is
optional here so that a missing value reaches the API's rule and message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.common.validators import time_zone_names
from apps.common.widgets import FastSelect, StaticChoices
from apps.organizations.constants import ROUNDING_MINUTES, Role, RoundingMode

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]

ROLE_LABELS = {
    Role.OWNER: _("Owner"),
    Role.ADMIN: _("Admin"),
    Role.MANAGER: _("Manager"),
    Role.MEMBER: _("Member"),
    Role.VIEWER: _("Viewer"),
}


#: The ~600 IANA zones: rendered once per process (apps.common.widgets).
TIME_ZONES = StaticChoices(lambda: [(name, name) for name in time_zone_names()])


class OrganizationForm(forms.Form):
    """``PATCH /api/v1/organization/``: the organization's identity and rules
    that apply to everyone (``require_two_factor``: owners only)."""

    name = forms.CharField(label=_("Organization name"), required=False)
    timezone = forms.ChoiceField(
        widget=FastSelect, label=_("Time zone"), required=False, choices=TIME_ZONES
    )
    week_start = forms.TypedChoiceField(
        widget=FastSelect, label=_("Week starts on"), required=False, choices=WEEKDAYS, coerce=int
    )
    currency = forms.CharField(label=_("Currency"), required=False)
    require_two_factor = forms.BooleanField(
        label=_("Require two-factor authentication from every member"), required=False
    )

    def __init__(self, *args: Any, owner: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(maxlength=200, autocomplete="organization")
        self.fields["currency"].widget.attrs.update(
            maxlength=3, autocapitalize="characters", spellcheck="false", size=3
        )
        if not owner:
            # Owner-only (``organization.owner_settings``): shown, not changeable.
            self.fields["require_two_factor"].disabled = True
            self.fields["require_two_factor"].help_text = _("Only owners can change this.")


class TimeTrackingForm(forms.Form):
    """The time-tracking rules the settings API changes."""

    idle_threshold_minutes = forms.CharField(label=_("Idle after (minutes)"), required=False)
    rounding_mode = forms.ChoiceField(widget=FastSelect, label=_("Rounding"), required=False)
    rounding_minutes = forms.ChoiceField(
        widget=FastSelect, label=_("Round to (minutes)"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["idle_threshold_minutes"].widget.attrs.update(inputmode="numeric", size=4)
        self.fields["rounding_mode"].choices = [  # type: ignore[attr-defined]
            (RoundingMode.NONE, _("No rounding")),
            (RoundingMode.UP, _("Round up")),
            (RoundingMode.DOWN, _("Round down")),
            (RoundingMode.NEAREST, _("Round to nearest")),
        ]
        minutes = [(str(m), str(m)) for m in ROUNDING_MINUTES]
        self.fields["rounding_minutes"].choices = minutes  # type: ignore[attr-defined]


class DefaultRateForm(forms.Form):
    default_hourly_rate = forms.CharField(label=_("Default hourly rate"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_hourly_rate"].widget.attrs.update(inputmode="decimal", size=10)


class InviteForm(forms.Form):
    """``POST /api/v1/invitations/``."""

    email = forms.CharField(label=_("Email"), required=False, widget=forms.EmailInput)
    role = forms.ChoiceField(widget=FastSelect, label=_("Role"), required=False)

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="off", maxlength=254)
        self.fields["role"].choices = [(role, ROLE_LABELS[Role(role)]) for role in roles]  # type: ignore[attr-defined]
        self.fields["role"].initial = Role.MEMBER


class InvitationNewAccountForm(forms.Form):
    """Accept as a new account: the invited email is the account's (locked)."""

    first_name = forms.CharField(label=_("First name"), required=False)
    last_name = forms.CharField(label=_("Last name"), required=False)
    email = forms.CharField(
        label=_("Email"), required=False, disabled=True, widget=forms.EmailInput
    )
    password = forms.CharField(
        label=_("Password"), required=False, strip=False, widget=forms.PasswordInput
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["first_name"].widget.attrs.update(autocomplete="given-name", maxlength=150)
        self.fields["last_name"].widget.attrs.update(autocomplete="family-name", maxlength=150)
        self.fields["email"].widget.attrs.update(autocomplete="username")
        self.fields["password"].widget.attrs.update(autocomplete="new-password")


class InvitationSignInForm(forms.Form):
    """Accept as the existing account of the invited email."""

    email = forms.CharField(
        label=_("Email"), required=False, disabled=True, widget=forms.EmailInput
    )
    password = forms.CharField(
        label=_("Password"), required=False, strip=False, widget=forms.PasswordInput
    )
    code = forms.CharField(label=_("Code"), required=False, max_length=32)

    def __init__(self, *args: Any, with_code: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="username")
        self.fields["password"].widget.attrs.update(autocomplete="current-password")
        self.fields["code"].widget.attrs.update(autocomplete="one-time-code", inputmode="numeric")
        if not with_code:
            del self.fields["code"]
