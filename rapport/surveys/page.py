"""What the answering page shows: the visible questions of one page, ready for the template.

Shared by the public page and the builder's preview, so the preview is exactly what the customer
sees. No ORM, no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from rapport.surveys import questions as q

LANGUAGE_NAMES = {"en": "English", "zh-hant": "繁體中文", "zh-hans": "简体中文"}


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    checked: bool
    short: bool  # a bare number: laid out as a row of buttons
    aria_label: str = ""  # a scale's end: the number with its label, read out together


@dataclass(frozen=True)
class Field:
    key: str
    name: str
    type: str
    text: str
    required: bool
    error: str
    choices: tuple[Choice, ...]
    low_label: str
    high_label: str
    value: str  # open text
    widget: str  # "scale", "list", "checkboxes" or "text"
    columns: int

    @property
    def wrap(self) -> int:
        """Buttons per row on a phone: long scales (NPS 0–10, 1–10) in two even rows."""
        return self.columns if self.columns <= 7 else (self.columns + 1) // 2


def pick_language(*candidates: str | None) -> str:
    """The first supported language among the candidates (e.g. ?lang=, saved, preferred)."""
    for lang in candidates:
        if lang:
            code = lang.lower()
            if code in q.LANGUAGES:
                return code
            if code.startswith("zh"):
                return "zh-hans" if code in {"zh-cn", "zh-sg", "zh-hans"} else "zh-hant"
    return q.DEFAULT_LANGUAGE


def fields_for_page(
    specs: Sequence[q.QuestionSpec],
    page: int,
    answers: Mapping[str, Any],
    shown_values: Mapping[str, Any],
    errors: Mapping[str, str],
    language: str,
) -> list[Field]:
    """The page's visible questions; `shown_values` (a resubmitted form or saved answers) fill them.

    Call inside translation.override(language) so built-in words (Yes/No) are in that language.
    """
    fields = []
    for spec in q.visible_on_page(specs, page, answers):
        value = shown_values.get(spec.key)
        chosen = {str(v) for v in value} if isinstance(value, list) else {str(value)}
        if value is None:
            chosen = set()
        widget, columns = "list", 1
        lows = q.localized(spec.low_labels, language)
        highs = q.localized(spec.high_labels, language)
        if spec.type in {q.NPS, q.RATING}:
            low, high = spec.bounds()
            choices = tuple(
                Choice(
                    str(n), str(n), str(n) in chosen, True, _end_label(n, low, high, lows, highs)
                )
                for n in range(low, high + 1)
            )
            widget, columns = "scale", high - low + 1
        elif spec.type == q.YES_NO:
            choices = (
                Choice("1", _("Yes"), "1" in chosen, False),
                Choice("0", _("No"), "0" in chosen, False),
            )
            columns = 2
        elif spec.type == q.TEXT:
            choices, widget = (), "text"
        else:
            choices = tuple(
                Choice(o.value, o.label(language), o.value in chosen, False) for o in spec.options
            )
            if spec.type == q.MULTIPLE_CHOICE:
                widget = "checkboxes"
        fields.append(
            Field(
                key=spec.key,
                name=f"q_{spec.key}",
                type=spec.type,
                text=spec.text(language),
                required=spec.required,
                error=errors.get(spec.key, ""),
                choices=choices,
                low_label=lows,
                high_label=highs,
                value=str(value) if spec.type == q.TEXT and value is not None else "",
                widget=widget,
                columns=columns,
            )
        )
    return fields


def _end_label(n: int, low: int, high: int, low_label: str, high_label: str) -> str:
    """A scale end's accessible name ("0 – Not at all likely"); "" for the numbers between."""
    if n == low and low_label:
        return f"{n} – {low_label}"
    if n == high and high_label:
        return f"{n} – {high_label}"
    return ""


def progress(specs: Sequence[q.QuestionSpec], page: int) -> tuple[int, int]:
    """(this page's position, number of pages), counting every page of the version."""
    pages = q.page_numbers(specs)
    return (pages.index(page) + 1 if page in pages else 1), max(len(pages), 1)


def language_links(current: str) -> list[dict[str, Any]]:
    return [
        {"code": code, "name": name, "current": code == current}
        for code, name in LANGUAGE_NAMES.items()
    ]


def form_lists(data: Any) -> dict[str, list[str]]:
    """A request's POST data as {name: [values]} (a plain dict works in tests and imports)."""
    if hasattr(data, "lists"):
        return {k: list(v) for k, v in data.lists()}
    return {k: (list(v) if isinstance(v, list | tuple) else [v]) for k, v in dict(data).items()}
