"""Forms of the sign-in pages (labels are the accessible names of UI.md)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.common.widgets import FastSelect


class SignInForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["email"].widget.attrs.update(autocomplete="email", autofocus=True)
        self.fields["password"].widget.attrs.update(autocomplete="current-password")


class CodeForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=32)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["code"].widget.attrs.update(
            autocomplete="one-time-code", inputmode="numeric", autofocus=True
        )


class ProfileForm(forms.Form):
    """Name, language and time zone. Only the shape of the input is read here:
    the rules (known time zone, known language) are the API's serializer's
    (apps/iam/web/account.py)."""

    first_name = forms.CharField(label=_("First name"), required=False, max_length=150)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=150)
    language = forms.CharField(label=_("Language"), required=False, widget=FastSelect)
    timezone = forms.CharField(label=_("Time zone"), required=False, max_length=64)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Each language named in itself; "" lets the browser decide.
        self.fields["language"].widget.choices = [
            ("", _("Browser default")),
            *settings.LANGUAGES,
        ]
        self.fields["first_name"].widget.attrs.update(autocomplete="given-name")
        self.fields["last_name"].widget.attrs.update(autocomplete="family-name")
        # Suggestions from the page's <datalist> (a select of ~600 zones would
        # weigh more than the rest of the page).
        self.fields["timezone"].widget.attrs.update(
            list="timezone-names", autocomplete="off", spellcheck="false"
        )


class PasswordChangeForm(forms.Form):
    """Current and new password; checked by dj-rest-auth's serializer (the
    API's ``password/change/``) with Django's validators. Passwords are never
    echoed back into the page."""

    current_password = forms.CharField(
        label=_("Current password"), strip=False, widget=forms.PasswordInput
    )
    new_password = forms.CharField(label=_("New password"), strip=False, widget=forms.PasswordInput)
    new_password_again = forms.CharField(
        label=_("Repeat new password"), strip=False, widget=forms.PasswordInput
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["current_password"].widget.attrs.update(autocomplete="current-password")
        for name in ("new_password", "new_password_again"):
            self.fields[name].widget.attrs.update(autocomplete="new-password")


class TwoFactorCodeForm(forms.Form):
    """A code from the authenticator app (or a backup code, to turn it off)."""

    code = forms.CharField(label=_("Code"), max_length=32)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["code"].widget.attrs.update(autocomplete="one-time-code", inputmode="numeric")
