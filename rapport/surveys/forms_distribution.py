"""Forms of the distribution pages: event rules, waves, the contact policy, the SMS provider."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rapport.integrations.rules import webhook_url_problem
from rapport.surveys import questions as q
from rapport.surveys.models import ContactPolicy, EventRule, SmsProviderConfig, Survey, Wave
from rapport.touchpoints.kinds import BUILTIN_KINDS, CHANNELS


class JsonObjectField(forms.CharField):
    """A JSON object typed into a text box, e.g. {"visit_type": "warranty"}."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": '{"name": "value"}'}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False) if value else ""
        return value

    def to_python(self, value: Any) -> dict[str, Any]:
        text = (value or "").strip()
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(
                _("Not valid JSON: %(error)s"), params={"error": exc}
            ) from exc
        if not isinstance(data, dict):
            raise forms.ValidationError(_('Write an object, e.g. {"visit_type": "warranty"}.'))
        return data


def _surveys() -> Any:
    return Survey.objects.filter(archived=False).order_by("name")


class SendingFields(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survey"].queryset = _surveys()


class EventRuleForm(SendingFields):
    touchpoint_channels = forms.MultipleChoiceField(
        label=_("touchpoint channels"),
        choices=list(CHANNELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any channel."),
    )
    context_filter = JsonObjectField(label=_("context filter"))

    class Meta:
        model = EventRule
        fields = [
            "name", "survey", "active", "touchpoint_kind", "touchpoint_channels", "unit",
            "context_filter", "delay_hours", "priority", "channel", "reminder_days",
            "validity_days",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["touchpoint_kind"].widget = forms.TextInput(attrs={"list": "tp-kinds"})
        self.kinds = sorted(BUILTIN_KINDS)


class WaveForm(SendingFields):
    languages = forms.MultipleChoiceField(
        label=_("languages"),
        choices=[(code, code) for code in q.LANGUAGES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every language."),
    )
    attribute_filter = JsonObjectField(label=_("attribute filter"))

    class Meta:
        model = Wave
        fields = [
            "name", "survey", "active", "unit", "languages", "attribute_filter",
            "touchpoint_kind", "touchpoint_within_days", "sample_rate", "sample_count",
            "stratify_by_unit", "channel", "reminder_days", "validity_days", "every_months",
            "next_run_at",
        ]  # fmt: skip
        widgets = {"next_run_at": forms.DateTimeInput(attrs={"type": "datetime-local"})}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        rate, count = data.get("sample_rate"), data.get("sample_count")
        if rate is not None and count is not None:
            raise forms.ValidationError(_("Sample by rate or by count, not both."))
        if rate is not None and not 0 < rate <= 1:
            self.add_error("sample_rate", _("A rate is between 0 and 1, e.g. 0.2 for 20 %."))
        return data


class ContactPolicyForm(forms.ModelForm):
    class Meta:
        model = ContactPolicy
        fields = ["quarantine_days", "quiet_start", "quiet_end", "max_attempts"]
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}),
        }


class SmsProviderForm(forms.ModelForm):
    url = forms.URLField(label=_("webhook URL"), max_length=500, assume_scheme="https")

    class Meta:
        model = SmsProviderConfig
        fields = ["name", "url", "secret", "active"]
        widgets = {"secret": forms.PasswordInput(render_value=True)}

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = webhook_url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url
