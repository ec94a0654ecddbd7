"""Forms of the staff case pages: the inbox filters, every action on a case, opening a case by
hand, approvals, and the configuration editors.

Every action form carries the case `version` the person saw; the view hands it to
rapport.cases.actions, which refuses a stale one (optimistic concurrency).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rapport.cases import business_time, priority, states
from rapport.cases import rules as rule_logic
from rapport.cases.actions.consent import CONSENT_CHANNELS
from rapport.cases.models import (
    CHURN_CAUSES,
    AuthorityLimit,
    BusinessCalendar,
    CaseRule,
    CaseSettings,
    MessageTemplate,
    Remedy,
    SlaPolicy,
)
from rapport.org.models import OrgUnit, Staff

INBOX_TABS: dict[str, Any] = {
    "mine": _("Mine"),
    "due_soon": _("Due soon"),
    "breached": _("Breached"),
    "approval": _("Awaiting approval"),
    "all": _("All in my units"),
}
CONSENT_CHANNEL_LABELS: dict[str, Any] = {
    "phone": _("Phone"),
    "email": _("Email"),
    "in_person": _("In person"),
    "sms": _("SMS"),
    "chat": _("Chat"),
    "letter": _("Letter"),
    "link": _("Accept link"),
}
CONFIRM_CHANNELS = [(c, CONSENT_CHANNEL_LABELS[c]) for c in CONSENT_CHANNELS if c != "link"]
HOLIDAY_COUNTRIES = [
    ("", _("No public holidays")),
    ("TW", _("Taiwan")),
    ("CN", _("China")),
    ("HK", _("Hong Kong")),
    ("KR", _("South Korea")),
    ("US", _("United States")),
]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _local_input(value: dt.datetime | None) -> str:
    """A datetime as the value of an <input type=datetime-local> in the current time zone."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, dt.datetime):
            return _local_input(value)
        return super().format_value(value)


def local_datetime_field(label: Any, required: bool = True, help_text: Any = "") -> Any:
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text=help_text,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=DateTimeLocalInput(),
    )


# --- the inbox ---------------------------------------------------------------------------------


class InboxFilterForm(forms.Form):
    tab = forms.ChoiceField(label=_("Show"), choices=list(INBOX_TABS.items()), required=False)
    unit = forms.ChoiceField(label=_("Unit"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False)
    priority = forms.ChoiceField(label=_("Priority"), required=False)
    owner = forms.ChoiceField(label=_("Owner"), required=False)

    def __init__(
        self, *args: Any, units: list[OrgUnit], owners: list[Staff], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].choices = [("", _("All my units"))] + [
            (str(u.pk), f"{'· ' * u.depth}{u.name}") for u in units
        ]
        self.fields["state"].choices = [("", _("Every open state"))] + [
            (s, label) for s, label in states.STATES.items()
        ]
        self.fields["priority"].choices = [("", _("Any priority"))] + list(
            priority.PRIORITIES.items()
        )
        self.fields["owner"].choices = [("", _("Anyone"))] + [(str(s.pk), str(s)) for s in owners]


# --- actions on a case ---------------------------------------------------------------------------


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class TransitionForm(VersionForm):
    to = forms.ChoiceField(label=_("Move to"), choices=[])
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)

    def __init__(self, *args: Any, targets: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(t, states.STATES[t]) for t in targets]


class NoteForm(VersionForm):
    text = forms.CharField(
        label=_("Internal note"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Seen by staff only; never sent to the customer."),
    )


class ReplyForm(VersionForm):
    MODES = [
        ("update", _("An update")),
        ("checking", _("Let me check — I will come back by a date")),
    ]
    mode = forms.ChoiceField(
        label=_("Message"), choices=MODES, widget=forms.RadioSelect, initial="update"
    )
    body = forms.CharField(
        label=_("Text"), required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 4})
    )
    what = forms.CharField(label=_("What you will check"), required=False, max_length=500)
    by = local_datetime_field(_("Come back by"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("mode") == "checking":
            if not (data.get("what") or "").strip():
                self.add_error("what", _("Say what you will check."))
            if not data.get("by"):
                self.add_error("by", _("Say by when you will come back to the customer."))
            elif data["by"] <= timezone.now():
                self.add_error("by", _("The date must be in the future."))
        elif not (data.get("body") or "").strip():
            self.add_error("body", _("Write the message."))
        return data


class TransferForm(VersionForm):
    to_staff = forms.ChoiceField(
        label=_("New owner"),
        error_messages={"invalid_choice": _("Choose someone in your units.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        help_text=_("Required: every transfer is counted as a cost to the customer."),
    )

    def __init__(self, *args: Any, staff: list[Staff], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = {str(s.pk): s for s in staff}
        self.fields["to_staff"].choices = [("", "—")] + [
            (str(s.pk), f"{s} · {s.unit.name} · {s.get_role_display()}") for s in staff
        ]

    def clean_to_staff(self) -> Staff:
        value = self.cleaned_data["to_staff"]
        if value not in self.staff:
            raise ValidationError(_("Choose someone in your units."))
        return self.staff[value]


class RemedyForm(VersionForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=Remedy.Kind.choices)
    value = forms.DecimalField(
        label=_("Value"), min_value=Decimal("0.01"), max_digits=14, decimal_places=2
    )
    currency = forms.CharField(label=_("Currency"), min_length=3, max_length=3, initial="TWD")
    description = forms.CharField(label=_("Description"), required=False, max_length=500)

    def clean_currency(self) -> str:
        value = self.cleaned_data["currency"].strip().upper()
        if not value.isalpha():
            raise ValidationError(_("A three-letter code like TWD."))
        return value


class RemedyStepForm(VersionForm):
    remedy = forms.IntegerField(widget=forms.HiddenInput)


class WithdrawForm(RemedyStepForm):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class ConsentForm(RemedyStepForm):
    accepted = forms.TypedChoiceField(
        label=_("The customer"),
        choices=[("yes", _("accepted")), ("no", _("declined"))],
        coerce=lambda v: v == "yes",
    )
    channel = forms.ChoiceField(
        label=_("Through"), choices=[(c, CONSENT_CHANNEL_LABELS[c]) for c in CONSENT_CHANNELS]
    )
    given_at = local_datetime_field(
        _("When"), required=False, help_text=_("Empty: now. Your time zone.")
    )


class PromiseForm(VersionForm):
    text = forms.CharField(label=_("Promise"), max_length=500)
    due_at = local_datetime_field(_("By"))

    def clean_due_at(self) -> dt.datetime:
        value = self.cleaned_data["due_at"]
        if value <= timezone.now():
            raise ValidationError(_("The date must be in the future."))
        return value


class SettleForm(VersionForm):
    promise = forms.IntegerField(widget=forms.HiddenInput)
    kept = forms.TypedChoiceField(
        choices=[("yes", _("Kept")), ("no", _("Broken"))], coerce=lambda v: v == "yes"
    )


class ResolveForm(VersionForm):
    cause = forms.ChoiceField(label=_("Cause"), choices=[("", "—"), *CHURN_CAUSES.items()])
    sub_cause = forms.CharField(label=_("Sub-cause"), required=False, max_length=200)
    fix = forms.CharField(
        label=_("What fixed it"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    reusable = forms.BooleanField(
        label=_("Reusable: suggest this resolution for similar cases"), required=False
    )
    message = forms.CharField(
        label=_("Resolution message to the customer"),
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Empty: no message."),
    )


class CloseForm(VersionForm):
    basis = forms.ChoiceField(
        label=_("Closed because"),
        choices=list(states.CLOSE_BASES.items()),
        widget=forms.RadioSelect,
    )
    confirmation_channel = forms.ChoiceField(
        label=_("Confirmed through"), required=False, choices=[("", "—"), *CONFIRM_CHANNELS]
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)


class ReopenForm(VersionForm):
    reason = forms.CharField(label=_("Why reopen"), max_length=2000)


class DecisionForm(forms.Form):
    approve = forms.TypedChoiceField(
        choices=[("yes", _("Approve")), ("no", _("Refuse"))], coerce=lambda v: v == "yes"
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=2000,
        help_text=_("Required for a refusal: the owner tells the customer."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("approve") is False and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Give the reason for refusing."))
        return data


# --- opening a case by hand --------------------------------------------------------------------


class CreateCaseForm(forms.Form):
    SEVERITY_CHOICES = list(priority.SEVERITIES.items())
    CHANNELS = [
        ("walk_in", _("Walk-in")),
        ("phone", _("Hotline call")),
        ("email", _("Email")),
        ("letter", _("Letter")),
        ("social", _("Social media")),
        ("other", _("Other")),
    ]
    customer = forms.IntegerField(widget=forms.HiddenInput)
    topic = forms.SlugField(
        label=_("Topic"),
        max_length=64,
        initial=rule_logic.DEFAULT_TOPIC,
        help_text=_("One open case per customer and topic: a second report joins the open case."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=300)
    description = forms.CharField(
        label=_("What happened"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    remedy_wanted = forms.CharField(
        label=_("What the customer wants"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    severity = forms.ChoiceField(label=_("Severity"), choices=SEVERITY_CHOICES, initial="medium")
    channel = forms.ChoiceField(label=_("Came in by"), choices=CHANNELS, initial="phone")


# --- configuration ---------------------------------------------------------------------------


def describe_condition(condition: str, params: dict[str, Any]) -> str:
    """The rule's condition in words, for the rule list."""
    p = params or {}

    def items(name: str) -> str:
        return ", ".join(str(v) for v in p.get(name) or []) or "—"

    texts: dict[str, Any] = {
        "nps_at_most": _("NPS score %(max)s or less"),
        "csat_at_most": _("CSAT %(max)s or less"),
        "ces_at_most": _("Customer effort %(max)s or less"),
        "tier_is": _("Engagement tier is %(tiers)s"),
        "answer_is": _("Answer to “%(question)s” is %(values)s"),
        "kind_is": _("A touchpoint of kind %(kinds)s"),
        "repeat_visit": _("Another %(kind)s for the same %(context_key)s within %(days)s days"),
        "contacts_within": _("%(count)s contacts (%(kinds)s) within %(days)s days"),
        "sentiment_at_most": _("Feedback sentiment %(max)s or lower"),
    }
    text = texts.get(condition)
    if text is None:
        return condition
    values = {
        "max": p.get("max", "?"),
        "tiers": items("tiers"),
        "question": p.get("question", "?"),
        "values": items("values"),
        "kinds": items("kinds"),
        "kind": p.get("kind", "?"),
        "context_key": p.get("context_key", "?"),
        "days": p.get("days", "?"),
        "count": p.get("count", "?"),
    }
    return str(text) % values


def condition_help() -> list[dict[str, Any]]:
    """Each condition with its trigger and the parameters it needs, for the rule editor."""
    names = {int: "number", float: "number", str: "text", list: "list"}
    out = []
    for condition, (trigger, params) in rule_logic.CONDITIONS.items():
        out.append(
            {
                "condition": condition,
                "trigger": rule_logic.TRIGGERS[trigger],
                "params": ", ".join(
                    f"{n} ({names.get(t if isinstance(t, type) else t[0], 'value')})"
                    for n, t in params.items()
                ),
            }
        )
    return out


class CaseRuleForm(forms.ModelForm):
    params = forms.CharField(
        label=_("Parameters (JSON)"),
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text=_('For example {"max": 6} or {"kinds": ["complaint"]}.'),
    )

    class Meta:
        model = CaseRule
        fields = [
            "key",
            "name",
            "condition",
            "params",
            "topic",
            "severity",
            "unit",
            "order",
            "active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = OrgUnit.objects.order_by("path")
        if self.instance.pk and not self.is_bound:
            self.initial["params"] = json.dumps(self.instance.params, ensure_ascii=False)

    def clean_params(self) -> dict[str, Any]:
        raw = self.cleaned_data["params"]
        try:
            value = json.loads(raw or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationError(
                _("Not valid JSON (line %(line)d, column %(col)d): %(msg)s")
                % {"line": exc.lineno, "col": exc.colno, "msg": exc.msg}
            ) from exc
        if not isinstance(value, dict):
            raise ValidationError(_('The parameters are an object, like {"max": 6}.'))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        condition, params = data.get("condition"), data.get("params")
        if condition and isinstance(params, dict):
            for problem in rule_logic.validate(condition, params):
                self.add_error("params", problem)
        return data

    def _post_clean(self) -> None:
        # The model's clean() repeats the validation above; skip it to show each problem once.
        try:
            self.instance = forms.models.construct_instance(self, self.instance, self._meta.fields)
            self.validate_unique()
        except ValidationError as exc:
            self._update_errors(exc)


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = ["priority", "acknowledge_minutes", "first_response_minutes", "resolve_minutes"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ack, first, resolve = (
            data.get("acknowledge_minutes"),
            data.get("first_response_minutes"),
            data.get("resolve_minutes"),
        )
        if None not in (ack, first, resolve):
            if min(ack, first, resolve) < 1:
                raise ValidationError(_("Every target is at least one minute."))
            if not ack <= first <= resolve:
                raise ValidationError(
                    _("Acknowledge ≤ first response ≤ resolve: a later step cannot be due earlier.")
                )
        return data


class BusinessCalendarForm(forms.ModelForm):
    """Opening hours as one line per weekday ("09:00-12:00, 13:00-18:00"; empty: closed)."""

    holiday_country = forms.ChoiceField(
        label=_("Public holidays of"), choices=HOLIDAY_COUNTRIES, required=False
    )
    holiday_subdivision = forms.CharField(
        label=_("Subdivision"),
        required=False,
        max_length=8,
        help_text=_("Optional, e.g. CA for California or HK-specific codes."),
    )
    closed_text = forms.CharField(
        label=_("Other closed days"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One date per line, YYYY-MM-DD."),
    )

    class Meta:
        model = BusinessCalendar
        fields = ["unit", "holiday_country", "holiday_subdivision"]

    def __init__(self, *args: Any, units: list[OrgUnit] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = OrgUnit.objects.order_by("path")
        self.fields["unit"].empty_label = _("Everyone (default)")
        hours = self.instance.hours if self.instance.pk else business_time.DEFAULT_HOURS
        for day in WEEKDAYS:
            spans = hours.get(day) or []
            self.fields[f"hours_{day}"] = forms.CharField(
                label=str(day).title(),
                required=False,
                initial=", ".join(f"{a}-{b}" for a, b in spans),
            )
        if self.instance.pk and not self.is_bound:
            self.initial["closed_text"] = "\n".join(self.instance.closed_dates or [])

    def day_fields(self) -> list[Any]:
        return [self[f"hours_{day}"] for day in WEEKDAYS]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        hours: dict[str, list[list[str]]] = {}
        for day in WEEKDAYS:
            raw = (data.get(f"hours_{day}") or "").strip()
            spans = []
            for part in [p.strip() for p in raw.split(",") if p.strip()]:
                bits = [b.strip() for b in part.split("-")]
                if len(bits) != 2:
                    self.add_error(f"hours_{day}", _("Write spans like 09:00-18:00."))
                    break
                spans.append(bits)
            hours[day] = spans
        closed = [
            line.strip() for line in (data.get("closed_text") or "").splitlines() if line.strip()
        ]
        data["hours"], data["closed_dates"] = hours, closed
        if not self.errors:
            try:
                business_time.Calendar.build(
                    "UTC",
                    hours,
                    data.get("holiday_country") or "",
                    (data.get("holiday_subdivision") or "").strip(),
                    closed,
                )
            except business_time.CalendarError as exc:
                raise ValidationError(str(exc)) from exc
        return data

    def save(self, commit: bool = True) -> BusinessCalendar:
        calendar = super().save(commit=False)
        calendar.hours = self.cleaned_data["hours"]
        calendar.closed_dates = self.cleaned_data["closed_dates"]
        calendar.holiday_subdivision = calendar.holiday_subdivision.strip()
        if commit:
            calendar.save()
        return calendar

    def _post_clean(self) -> None:
        try:
            self.instance = forms.models.construct_instance(self, self.instance, self._meta.fields)
            self.validate_unique()
        except ValidationError as exc:
            self._update_errors(exc)


class AuthorityLimitForm(forms.ModelForm):
    class Meta:
        model = AuthorityLimit
        fields = ["role", "staff", "currency", "max_value"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = Staff.objects.filter(active=True).select_related("unit")
        self.fields["staff"].required = False
        self.fields["role"].required = False
        self.fields["role"].help_text = _("A role, or one person below — not both.")

    def clean_currency(self) -> str:
        value = self.cleaned_data["currency"].strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValidationError(_("A three-letter code like TWD."))
        return value

    def clean_max_value(self) -> Decimal:
        value = self.cleaned_data["max_value"]
        if value < 0:
            raise ValidationError(_("Zero or more."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        role, staff = data.get("role") or "", data.get("staff")
        if bool(role) == bool(staff):
            raise ValidationError(_("Choose either a role or a person."))
        duplicate = AuthorityLimit.objects.filter(
            currency=data.get("currency", ""),
            **({"staff": staff} if staff else {"role": role, "staff__isnull": True}),
        ).exclude(pk=self.instance.pk)
        if duplicate.exists():
            raise ValidationError(_("There is already a limit for them in this currency."))
        return data


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["kind", "language", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 10})}

    def clean(self) -> dict[str, Any]:
        from django.template import Engine, TemplateSyntaxError

        data = super().clean()
        engine = Engine(autoescape=False)
        for name in ("subject", "body"):
            text = data.get(name)
            if not text:
                continue
            try:
                engine.from_string(text)
            except TemplateSyntaxError as exc:
                self.add_error(name, _("Template error: %(err)s") % {"err": exc})
        return data


class CaseSettingsForm(forms.ModelForm):
    class Meta:
        model = CaseSettings
        fields = [
            "recovery_survey",
            "recovery_delay_hours",
            "no_reply_days",
            "owner_load_limit",
            "approval_minutes",
            "warn_percent",
            "send_acknowledgement",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from rapport.surveys.models import Survey

        self.fields["recovery_survey"].queryset = Survey.objects.filter(archived=False)

    def clean_warn_percent(self) -> int:
        value = self.cleaned_data["warn_percent"]
        if not 1 <= value <= 99:
            raise ValidationError(_("Between 1 and 99."))
        return value

    def clean_owner_load_limit(self) -> int:
        value = self.cleaned_data["owner_load_limit"]
        if value < 1:
            raise ValidationError(_("At least 1."))
        return value
