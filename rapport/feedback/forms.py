"""Forms of the feedback pages: the public form, corrections, themes, campaigns."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from rapport.feedback.analysis import CAUSES
from rapport.feedback.models import CAUSE_LABELS, SENTIMENTS, Campaign, Theme

MAX_FORM_TEXT = 10_000


class GiveFeedbackForm(forms.Form):
    """What anyone may send without logging in."""

    text = forms.CharField(
        label=_("Your feedback"),
        max_length=MAX_FORM_TEXT,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    name = forms.CharField(label=_("Your name (optional)"), max_length=200, required=False)
    contact = forms.CharField(
        label=_("Email or phone, if you would like an answer (optional)"),
        max_length=254,
        required=False,
    )
    # A field people never see: bots fill it in.
    website = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError(_("Please write something."))
        return text


class CorrectionForm(forms.Form):
    sentiment = forms.ChoiceField(label=_("Sentiment"), choices=list(SENTIMENTS.items()))
    causes = forms.MultipleChoiceField(
        label=_("Causes"),
        choices=[(c, CAUSE_LABELS[c]) for c in CAUSES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    themes = forms.MultipleChoiceField(
        label=_("Themes"), choices=[], required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["themes"].choices = list(
            Theme.objects.filter(active=True).values_list("key", "name")
        )


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


class ThemeForm(forms.ModelForm):
    keywords_text = forms.CharField(
        label=_("Keywords (one a line or comma separated, any language)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    examples_text = forms.CharField(
        label=_("Examples (one a line)"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )

    class Meta:
        model = Theme
        fields = ["name", "key", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].required = False
        self.fields["key"].help_text = _("Left empty: made from the name.")
        if self.instance.pk:
            self.fields["keywords_text"].initial = "\n".join(self.instance.keywords or [])
            self.fields["examples_text"].initial = "\n".join(self.instance.examples or [])

    def clean_key(self) -> str:
        key = self.cleaned_data.get("key") or slugify(self.cleaned_data.get("name", ""))
        if not key:
            key = "theme"
        clash = Theme.objects.filter(key=key).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("Another theme has this key."))
        return key

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        keywords = _lines(data.get("keywords_text", ""))
        examples = [e.strip() for e in data.get("examples_text", "").splitlines() if e.strip()]
        if not keywords and not examples:
            raise forms.ValidationError(_("Give at least one keyword or one example."))
        self.instance.keywords = keywords
        self.instance.examples = examples
        return data


class CampaignForm(forms.ModelForm):
    segment_unit = forms.CharField(
        label=_("Target unit code (its customers by home unit; empty: all)"),
        required=False,
        max_length=64,
    )
    segment_attributes = forms.CharField(
        label=_("Customer attributes (one a line: name=value1,value2)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    control_list = forms.CharField(
        label=_("Explicit control group (customer ids, one a line; replaces the share)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "key",
            "offer",
            "starts_on",
            "ends_on",
            "response_days",
            "control_share",
            "seed",
        ]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
        }
        help_texts = {
            "key": _("Touchpoints carry it in their context as campaign=KEY."),
            "control_share": _("0 to 0.5: the share of the segment held out at random."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seg = self.instance.segment or {}
        self.fields["segment_unit"].initial = seg.get("unit", "")
        self.fields["segment_attributes"].initial = "\n".join(
            f"{k}={','.join(v) if isinstance(v, list) else v}"
            for k, v in (seg.get("attributes") or {}).items()
        )

    def clean_control_share(self) -> float:
        share = self.cleaned_data["control_share"]
        if not 0 <= share <= 0.5:
            raise forms.ValidationError(_("Between 0 and 0.5."))
        return share

    def clean_control_list(self) -> list[int]:
        ids = []
        for line in _lines(self.cleaned_data.get("control_list", "")):
            if not line.isdigit():
                raise forms.ValidationError(
                    _("%(v)s is not a customer id (a whole number).") % {"v": line[:40]}
                )
            ids.append(int(line))
        return ids

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end and end < start:
            self.add_error("ends_on", _("The end is before the start."))
        attributes: dict[str, Any] = {}
        for number, line in enumerate(data.get("segment_attributes", "").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, values = line.partition("=")
            if not sep or not name.strip():
                self.add_error(
                    "segment_attributes",
                    _("Line %(n)d: write name=value.") % {"n": number},
                )
                continue
            parts = [v.strip() for v in values.split(",") if v.strip()]
            attributes[name.strip()] = parts if len(parts) > 1 else (parts[0] if parts else "")
        segment: dict[str, Any] = {}
        if data.get("segment_unit"):
            segment["unit"] = data["segment_unit"].strip()
        if attributes:
            segment["attributes"] = attributes
        self.instance.segment = segment
        return data
