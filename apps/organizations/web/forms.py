"""The sign-up form (labels are the accessible names of UI.md).

The form only carries and renders the fields: what is valid is decided by the
API's own serializer and service (apps/organizations/web/views.py), whose
messages are put next to the fields.
"""

from __future__ import annotations

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


class SignupForm(forms.Form):
    organization_name = forms.CharField(label=_("Organization name"), required=False)
    slug = forms.CharField(label=_("Subdomain"), required=False)
    email = forms.CharField(label=_("Email"), required=False, widget=forms.EmailInput)
    password = forms.CharField(
        label=_("Password"), required=False, strip=False, widget=forms.PasswordInput
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["organization_name"].widget.attrs.update(
            autocomplete="organization", autofocus=True, maxlength=200
        )
        self.fields["slug"].widget.attrs.update(
            {
                "autocomplete": "off",
                "autocapitalize": "none",
                "spellcheck": "false",
                "maxlength": 63,
                "aria-describedby": "slug-status",
                # htmx: the availability check, as the user types.
                "hx-get": reverse_lazy("organizations_public:slug_check"),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#slug-status",
                "hx-swap": "innerHTML",
            }
        )
        self.fields["email"].widget.attrs.update(autocomplete="email")
        self.fields["password"].widget.attrs.update(autocomplete="new-password")
