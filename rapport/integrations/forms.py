"""Forms of the integration pages: API keys and webhook subscriptions. The rules themselves are
checked by rapport.integrations.actions, whose errors are shown on the field they name."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from rapport.core.events import EVENT_TYPES
from rapport.integrations.actions import IntegrationError
from rapport.integrations.models import SCOPES, WebhookDelivery
from rapport.integrations.rules import DEFAULT_SCOPES

ALL_EVENTS = "*"


def show_error(form: forms.Form, error: IntegrationError) -> None:
    """Put an operation's refusal on the field it names (or on the whole form)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error))


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Key name"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=list(SCOPES.items()),
        widget=forms.CheckboxSelectMultiple,
        initial=list(DEFAULT_SCOPES),
    )


def event_type_choices() -> list[tuple[str, str]]:
    return [(ALL_EVENTS, str(_("Every event")))] + [
        (name, f"{name} — {description}") for name, description in EVENT_TYPES.items()
    ]


class WebhookSubscriptionForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Event types"), choices=event_type_choices, widget=forms.CheckboxSelectMultiple
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any"))] + list(WebhookDelivery.Status.choices),
    )
