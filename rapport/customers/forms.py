"""Forms of the customer pages: search, timeline filters, consent, merge and reviews."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rapport.customers import timeline
from rapport.customers.models import Consent, Customer
from rapport.org.models import OrgUnit
from rapport.touchpoints.kinds import CHANNELS


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Name, email, phone or external id"),
                "autocomplete": "off",
            }
        ),
    )


class TimelineFilterForm(forms.Form):
    """Filters of the timeline; dates are whole days in the viewer's time zone."""

    type = forms.ChoiceField(label=_("Show"), required=False)
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    unit = forms.ChoiceField(label=_("Unit"), required=False)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, units: list[OrgUnit], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        any_ = [("", _("Any"))]
        self.fields["type"].choices = [("", _("Everything"))] + [
            (p.type, p.label) for p in timeline.providers()
        ]
        self.fields["kind"].choices = any_ + timeline.kind_choices()
        self.fields["channel"].choices = any_ + list(CHANNELS.items())
        # Indented by depth, so the tree reads in a plain <select>; a unit includes its subtree.
        self.unit_paths = {str(u.pk): u.path for u in units}
        self.fields["unit"].choices = any_ + [
            (str(u.pk), "\u2003" * u.depth + u.name) for u in units
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("“From” must not be after “To”."))
        return data

    def filters(self) -> timeline.Filters:
        """The valid filters; an invalid form filters nothing (its errors are shown)."""
        if not self.is_valid():
            return timeline.Filters()
        data = self.cleaned_data
        tz = timezone.get_current_timezone()

        def start_of(day: Any) -> datetime:
            return timezone.make_aware(datetime.combine(day, time.min), tz)

        return timeline.Filters(
            type=data.get("type") or "",
            kind=data.get("kind") or "",
            channel=data.get("channel") or "",
            unit_path=self.unit_paths.get(data.get("unit") or "", ""),
            since=start_of(data["since"]) if data.get("since") else None,
            until=start_of(data["until"] + timedelta(days=1)) if data.get("until") else None,
        )


CONSENT_CHOICES = [("", _("Not recorded")), ("yes", _("Yes")), ("no", _("No"))]


def consent_field_name(channel: str, purpose: str) -> str:
    return f"{channel}__{purpose}"


class ConsentForm(forms.Form):
    """One choice per channel × purpose. A blank choice leaves the cell as it is: a recorded
    answer is never erased from the UI, only changed."""

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        recorded = {(c.channel, c.purpose): c for c in customer.consents.all()}
        self.recorded = recorded
        for channel, channel_label in Consent.Channel.choices:
            for purpose, purpose_label in Consent.Purpose.choices:
                record = recorded.get((channel, purpose))
                choices = CONSENT_CHOICES if record is None else CONSENT_CHOICES[1:]
                self.fields[consent_field_name(channel, purpose)] = forms.ChoiceField(
                    label=f"{channel_label} · {purpose_label}",
                    choices=choices,
                    required=False,
                    initial="" if record is None else ("yes" if record.granted else "no"),
                )

    def changes(self) -> dict[tuple[str, str], bool]:
        """(channel, purpose) → granted, for the cells whose answer changed."""
        out: dict[tuple[str, str], bool] = {}
        for channel, _l in Consent.Channel.choices:
            for purpose, _p in Consent.Purpose.choices:
                value = self.cleaned_data.get(consent_field_name(channel, purpose))
                if not value:
                    continue
                granted = value == "yes"
                record = self.recorded.get((channel, purpose))
                if record is None or record.granted != granted:
                    out[(channel, purpose)] = granted
        return out

    def grid(self) -> list[dict[str, Any]]:
        """Rows per channel with a bound field per purpose, for the template."""
        return [
            {
                "label": channel_label,
                "cells": [
                    self[consent_field_name(channel, purpose)]
                    for purpose, _p in Consent.Purpose.choices
                ],
            }
            for channel, channel_label in Consent.Channel.choices
        ]


class MergeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300)


class ReviewResolveForm(forms.Form):
    """Attach the record to one of the review's candidates, or to a new customer ("new")."""

    customer = forms.CharField(max_length=20)

    def __init__(self, *args: Any, candidates: list[Customer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = {str(c.pk): c for c in candidates}

    def clean_customer(self) -> str:
        value = self.cleaned_data["customer"]
        if value != "new" and value not in self.candidates:
            raise forms.ValidationError(_("Choose one of the candidates or a new customer."))
        return value

    def chosen(self) -> Customer | None:
        value = self.cleaned_data["customer"]
        return None if value == "new" else self.candidates[value]
