"""Builder forms: what a manager edits, turned into question fields for rapport.surveys.actions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rapport.surveys import library
from rapport.surveys import questions as q
from rapport.surveys.models import Question, Survey

LANGUAGE_LABELS = {"en": "English", "zh-hant": "繁體中文", "zh-hans": "简体中文"}
ROLE_CHOICES = [
    ("", _("Nothing: keep the answers only")),
    ("nps", _("Net Promoter Score (0–10)")),
    ("csat", _("CSAT (1–5)")),
    ("ces", _("Customer effort (1–7)")),
]


def lang_field(lang: str) -> str:
    return lang.replace("-", "_")


class NewSurveyForm(forms.Form):
    kind = forms.ChoiceField(label=_("Start from"), choices=Survey.Kind.choices)
    name = forms.CharField(label=pgettext_lazy("survey", "Name"), max_length=200)


def _text_fields(prefix: str, label: Any, widget: type[forms.Widget]) -> dict[str, forms.Field]:
    return {
        f"{prefix}_{lang_field(lang)}": forms.CharField(
            label=f"{label} ({name})", required=False, widget=widget()
        )
        for lang, name in LANGUAGE_LABELS.items()
    }


class VersionTextsForm(forms.Form):
    """The survey's title, introduction and thank-you message in the three languages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_text_fields("title", _("Title"), forms.TextInput))
        self.fields.update(_text_fields("intro", _("Introduction"), forms.Textarea))
        self.fields.update(_text_fields("thank_you", _("Thank-you message"), forms.Textarea))
        for field in self.fields.values():
            if isinstance(field.widget, forms.Textarea):
                field.widget.attrs["rows"] = 2

    @staticmethod
    def initial_for(version: Any) -> dict[str, str]:
        data = {}
        for name in ("title", "intro", "thank_you"):
            for lang in LANGUAGE_LABELS:
                data[f"{name}_{lang_field(lang)}"] = (getattr(version, name) or {}).get(lang, "")
        return data

    def texts(self) -> dict[str, dict[str, str]]:
        return {
            name: {
                lang: self.cleaned_data[f"{name}_{lang_field(lang)}"].strip()
                for lang in LANGUAGE_LABELS
            }
            for name in ("title", "intro", "thank_you")
        }


class QuestionForm(forms.Form):
    """One question: its type and settings, and its texts and options in three languages."""

    type = forms.ChoiceField(label=_("Type"), choices=list(q.QUESTION_TYPES.items()))
    required = forms.BooleanField(label=_("An answer is required"), required=False)
    page = forms.IntegerField(label=_("Page"), min_value=1, max_value=50)
    role = forms.ChoiceField(label=_("Counts towards"), choices=ROLE_CHOICES, required=False)
    scale_max = forms.TypedChoiceField(
        label=_("Rating scale"),
        choices=[(5, "1–5"), (7, "1–7"), (10, "1–10")],
        coerce=int,
        required=False,
        help_text=_("For rating questions only."),
    )
    condition_question = forms.ChoiceField(label=_("Show only when the answer to"), required=False)
    condition_op = forms.ChoiceField(
        label=_("Condition"), choices=list(q.CONDITION_OPS.items()), required=False
    )
    condition_value = forms.CharField(
        label=_("Value"),
        required=False,
        max_length=200,
        help_text=_("A number, or an option's value; for “is one of”, separate with commas."),
    )

    def __init__(self, *args: Any, earlier: list[Question], question: Question, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.question = question
        self.fields["condition_question"].choices = [("", _("(always show)"))] + [
            (other.key, f"{other.page}. {q.localized(other.texts, 'en') or other.key}")
            for other in earlier
        ]
        if question.role and question.role not in dict(ROLE_CHOICES):
            self.fields["role"].choices = [(question.role, question.role), *ROLE_CHOICES]
        self.fields.update(_text_fields("text", _("Question"), forms.Textarea))
        self.fields.update(_text_fields("options", _("Options, one per line"), forms.Textarea))
        self.fields.update(_text_fields("low", _("Label of the lowest point"), forms.TextInput))
        self.fields.update(_text_fields("high", _("Label of the highest point"), forms.TextInput))
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.Textarea):
                field.widget.attrs["rows"] = 4 if name.startswith("options") else 2

    @staticmethod
    def initial_for(question: Question) -> dict[str, Any]:
        cond = question.condition or {}
        value = cond.get("value", "")
        data: dict[str, Any] = {
            "type": question.type,
            "required": question.required,
            "page": question.page,
            "role": question.role,
            "scale_max": question.scale_max or 5,
            "condition_question": cond.get("question", ""),
            "condition_op": cond.get("op", "eq"),
            "condition_value": ", ".join(map(str, value)) if isinstance(value, list) else value,
        }
        for lang in LANGUAGE_LABELS:
            suffix = lang_field(lang)
            data[f"text_{suffix}"] = (question.texts or {}).get(lang, "")
            data[f"options_{suffix}"] = "\n".join(
                (o.get("labels") or {}).get(lang, "") for o in question.options or []
            ).strip("\n")
            data[f"low_{suffix}"] = (question.low_labels or {}).get(lang, "")
            data[f"high_{suffix}"] = (question.high_labels or {}).get(lang, "")
        return data

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not any(data.get(f"text_{lang_field(lang)}", "").strip() for lang in LANGUAGE_LABELS):
            raise forms.ValidationError(_("Write the question in at least one language."))
        kind = data.get("type")
        if kind in q.CHOICE_TYPES or kind == q.AGREEMENT:
            lines = {
                lang: [
                    line.strip()
                    for line in data.get(f"options_{lang_field(lang)}", "").splitlines()
                    if line.strip()
                ]
                for lang in LANGUAGE_LABELS
            }
            counts = {lang: len(v) for lang, v in lines.items() if v}
            if kind == q.AGREEMENT and not counts:
                data["_options"] = library.AGREEMENT_POINTS
            elif len(set(counts.values())) > 1:
                detail = ", ".join(f"{LANGUAGE_LABELS[k]} {n}" for k, n in counts.items())
                self.add_error(
                    "options_en",
                    _("Each language needs the same number of options (%(detail)s).")
                    % {"detail": detail},
                )
            elif not counts or max(counts.values()) < 2:
                self.add_error("options_en", _("Give at least two options."))
            else:
                data["_options"] = self._options(lines, max(counts.values()))
        if data.get("condition_question") and not data.get("condition_value", "").strip():
            self.add_error("condition_value", _("Say which answer shows this question."))
        return data

    def _options(self, lines: dict[str, list[str]], count: int) -> list[dict[str, Any]]:
        """Options with the labels by position; existing options keep their values."""
        old_values = [o["value"] for o in self.question.options or []]
        if self.cleaned_data.get("type") == q.AGREEMENT:
            old_values = [str(i + 1) for i in range(count)]
        values: list[str] = []
        for i in range(count):
            value = old_values[i] if i < len(old_values) else str(i + 1)
            while value in values:
                value = f"{value}_"
            values.append(value)
        return [
            {
                "value": values[i],
                "labels": {lang: labels[i] for lang, labels in lines.items() if i < len(labels)},
            }
            for i in range(count)
        ]

    def question_data(self) -> dict[str, Any]:
        """The fields to store on the question, with the type's sensible defaults filled in."""
        data = self.cleaned_data
        kind = data["type"]
        texts = {lang: data[f"text_{lang_field(lang)}"].strip() for lang in LANGUAGE_LABELS}
        low = {lang: data[f"low_{lang_field(lang)}"].strip() for lang in LANGUAGE_LABELS}
        high = {lang: data[f"high_{lang_field(lang)}"].strip() for lang in LANGUAGE_LABELS}
        if kind == q.NPS and not any(low.values()):
            low, high = dict(library.NPS_LOW), dict(library.NPS_HIGH)
        condition = None
        if data.get("condition_question"):
            raw = data["condition_value"].strip()
            value: Any = (
                [v.strip() for v in raw.split(",")] if data["condition_op"] == "in" else raw
            )
            condition = {
                "question": data["condition_question"],
                "op": data["condition_op"],
                "value": value,
            }
        return {
            "type": kind,
            "required": data["required"],
            "page": data["page"],
            "role": data.get("role") or "",
            "texts": {k: v for k, v in texts.items() if v},
            "options": data.get("_options", []) if kind in q.CHOICE_TYPES | {q.AGREEMENT} else [],
            "scale_min": 1 if kind == q.RATING else None,
            "scale_max": (data.get("scale_max") or 5) if kind == q.RATING else None,
            "low_labels": {k: v for k, v in low.items() if v} if kind in q.SCALE_TYPES else {},
            "high_labels": {k: v for k, v in high.items() if v} if kind in q.SCALE_TYPES else {},
            "condition": condition,
        }
