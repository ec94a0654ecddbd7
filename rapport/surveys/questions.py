"""Question types, answer parsing and validation, display conditions and pages.

Plain code (no ORM, no HTTP): the answering page, the builder, imports and the API all judge a
question definition and an answer the same way. A question is a `QuestionSpec`; an answer value is
typed: `int` for scales, NPS and yes/no (1 = yes, 0 = no), `str` for single choice (the option's
value) and open text, `list[str]` for multiple choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

LANGUAGES: tuple[str, ...] = ("en", "zh-hant", "zh-hans")
DEFAULT_LANGUAGE = "en"
MAX_TEXT_LENGTH = 10_000

NPS = "nps"
RATING = "rating"
AGREEMENT = "agreement"
SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
YES_NO = "yes_no"
TEXT = "text"

QUESTION_TYPES: dict[str, Any] = {
    NPS: _("Likelihood to recommend (0–10)"),
    RATING: _("Rating scale"),
    AGREEMENT: _("Agreement (strongly disagree … strongly agree)"),
    SINGLE_CHOICE: _("Single choice"),
    MULTIPLE_CHOICE: _("Multiple choice"),
    YES_NO: _("Yes / no"),
    TEXT: _("Open text"),
}
SCALE_TYPES = frozenset({NPS, RATING, AGREEMENT})
CHOICE_TYPES = frozenset({SINGLE_CHOICE, MULTIPLE_CHOICE})
NUMERIC_TYPES = SCALE_TYPES | {YES_NO}

# Condition operators: "show this question when the answer to <question> <op> <value>".
CONDITION_OPS: dict[str, Any] = {
    "eq": _("is"),
    "ne": _("is not"),
    "in": _("is one of"),
    "gte": _("is at least"),
    "lte": _("is at most"),
}


def localized(texts: Mapping[str, str] | None, language: str) -> str:
    """The text in `language`, else English, else any language that has one, else ""."""
    if not texts:
        return ""
    for lang in (language, DEFAULT_LANGUAGE):
        if texts.get(lang):
            return texts[lang]
    return next((t for t in texts.values() if t), "")


@dataclass(frozen=True)
class Option:
    value: str
    labels: Mapping[str, str]

    def label(self, language: str) -> str:
        return localized(self.labels, language) or self.value


@dataclass(frozen=True)
class Condition:
    question: str
    op: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "op": self.op, "value": self.value}

    @property
    def op_label(self) -> str:
        """The operator in words, in the active language (for the editor)."""
        return str(CONDITION_OPS.get(self.op, self.op))


@dataclass(frozen=True)
class QuestionSpec:
    key: str
    type: str
    texts: Mapping[str, str]
    required: bool = True
    options: Sequence[Option] = ()
    scale_min: int | None = None
    scale_max: int | None = None
    low_labels: Mapping[str, str] = field(default_factory=dict)
    high_labels: Mapping[str, str] = field(default_factory=dict)
    condition: Condition | None = None
    page: int = 1
    order: int = 0
    role: str = ""
    id: int | None = None

    def text(self, language: str) -> str:
        return localized(self.texts, language)

    @property
    def type_label(self) -> str:
        """The question type in words, in the active language (for the editor)."""
        return str(QUESTION_TYPES.get(self.type, self.type))

    def bounds(self) -> tuple[int, int]:
        """The scale's (min, max); the defaults are the type's usual ones."""
        if self.type == NPS:
            return (0, 10)
        if self.type == AGREEMENT:
            return (1, 5)
        return (self.scale_min if self.scale_min is not None else 1, self.scale_max or 5)

    def option_values(self) -> list[str]:
        return [o.value for o in self.options]


def condition_from_dict(data: Mapping[str, Any] | None) -> Condition | None:
    if not data or not data.get("question"):
        return None
    return Condition(str(data["question"]), str(data.get("op", "eq")), data.get("value"))


def options_from_list(data: Iterable[Mapping[str, Any]] | None) -> tuple[Option, ...]:
    return tuple(Option(str(o["value"]), dict(o.get("labels") or {})) for o in data or ())


class AnswerError(ValueError):
    """An answer that does not fit its question; the message is shown to the respondent."""


def parse_answer(spec: QuestionSpec, raw: Sequence[str]) -> Any:
    """The typed value of what a form (or an import) sent for one question, None when empty.

    Raises AnswerError when the value does not fit: out of range, unknown option, too long.
    """
    values = [v for v in raw if v is not None and str(v).strip() != ""]
    if spec.type == TEXT:
        text = raw[0] if raw else ""
        text = text.replace("\r\n", "\n")
        if len(text) > MAX_TEXT_LENGTH:
            raise AnswerError(
                _("Please keep your answer under %(limit)s characters (it has %(length)s).")
                % {"limit": f"{MAX_TEXT_LENGTH:,}", "length": f"{len(text):,}"}
            )
        return text if text.strip() else None
    if not values:
        return None
    if spec.type == MULTIPLE_CHOICE:
        allowed = set(spec.option_values())
        chosen = [str(v) for v in values]
        if any(v not in allowed for v in chosen) or len(set(chosen)) != len(chosen):
            raise AnswerError(_("Please choose from the options shown."))
        order = {v: i for i, v in enumerate(spec.option_values())}
        return sorted(chosen, key=order.__getitem__)
    if len(values) > 1:
        raise AnswerError(_("Please choose one answer."))
    value = str(values[0]).strip()
    if spec.type == SINGLE_CHOICE:
        if value not in spec.option_values():
            raise AnswerError(_("Please choose from the options shown."))
        return value
    if spec.type == YES_NO:
        if value not in {"0", "1"}:
            raise AnswerError(_("Please answer yes or no."))
        return int(value)
    # Scales: whole numbers within the bounds.
    low, high = spec.bounds()
    try:
        number = int(value)
    except ValueError:
        raise AnswerError(_("Please choose a number from the scale.")) from None
    if not low <= number <= high:
        raise AnswerError(
            _("Please choose a number from %(low)s to %(high)s.") % {"low": low, "high": high}
        )
    return number


def is_visible(spec: QuestionSpec, answers: Mapping[str, Any]) -> bool:
    """Whether the question's display condition holds for the answers so far.

    A condition on a question that was not answered (or was itself hidden) hides the question.
    """
    cond = spec.condition
    if cond is None:
        return True
    answer = answers.get(cond.question)
    if answer is None:
        return False
    given = answer if isinstance(answer, list) else [answer]
    wanted = cond.value if isinstance(cond.value, list) else [cond.value]
    given_s = {str(a) for a in given}
    wanted_s = {str(w) for w in wanted}
    if cond.op in {"eq", "in"}:
        return bool(given_s & wanted_s)
    if cond.op == "ne":
        return not (given_s & wanted_s)
    try:
        number, threshold = float(given[0]), float(wanted[0])
    except (TypeError, ValueError, IndexError):
        return False
    return number >= threshold if cond.op == "gte" else number <= threshold


def page_numbers(specs: Sequence[QuestionSpec]) -> list[int]:
    return sorted({s.page for s in specs})


def visible_on_page(
    specs: Sequence[QuestionSpec], page: int, answers: Mapping[str, Any]
) -> list[QuestionSpec]:
    return sorted(
        (s for s in specs if s.page == page and is_visible(s, answers)),
        key=lambda s: (s.order, s.key),
    )


def next_page(specs: Sequence[QuestionSpec], after: int, answers: Mapping[str, Any]) -> int | None:
    """The first page after `after` with a question to show, None when the survey is done."""
    for page in page_numbers(specs):
        if page > after and visible_on_page(specs, page, answers):
            return page
    return None


def previous_page(
    specs: Sequence[QuestionSpec], before: int, answers: Mapping[str, Any]
) -> int | None:
    for page in reversed(page_numbers(specs)):
        if page < before and visible_on_page(specs, page, answers):
            return page
    return None


def first_page(specs: Sequence[QuestionSpec], answers: Mapping[str, Any]) -> int | None:
    return next_page(specs, -(10**9), answers)


def visible_answers(specs: Sequence[QuestionSpec], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers that count: those whose question is still shown.

    A respondent who goes back and changes an answer can hide a later question they had already
    answered; that stale answer must not count.
    """
    kept: dict[str, Any] = {}
    for spec in sorted(specs, key=lambda s: (s.page, s.order, s.key)):
        if spec.key in answers and is_visible(spec, kept):
            kept[spec.key] = answers[spec.key]
    return kept


def validate_page(
    specs: Sequence[QuestionSpec],
    page: int,
    form: Mapping[str, Sequence[str]],
    answers_before: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse one submitted page: (typed values by key, error message by key).

    Only the page's visible questions are read; anything else in the form is ignored, so a
    client cannot answer a question that is hidden, on another page or not in the version.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in visible_on_page(specs, page, answers_before):
        try:
            value = parse_answer(spec, form.get(f"q_{spec.key}", []))
        except AnswerError as exc:
            errors[spec.key] = str(exc)
            continue
        if value is None and spec.required:
            errors[spec.key] = str(_("Please answer this question."))
        values[spec.key] = value
    return values, errors


def validate_definition(specs: Sequence[QuestionSpec]) -> list[str]:
    """What is wrong with a survey definition, in words a manager understands; [] when fine."""
    problems: list[str] = []
    if not specs:
        problems.append(str(_("The survey has no questions.")))
    by_key: dict[str, QuestionSpec] = {}
    for spec in specs:
        name = spec.text("en") or spec.key
        if spec.key in by_key:
            problems.append(str(_("Two questions share the key “%(key)s”.") % {"key": spec.key}))
        by_key[spec.key] = spec
        if spec.type not in QUESTION_TYPES:
            problems.append(str(_("“%(q)s” has an unknown type.") % {"q": name}))
        if not any(spec.texts.get(lang) for lang in LANGUAGES):
            problems.append(str(_("Question “%(key)s” has no text.") % {"key": spec.key}))
        if spec.type in CHOICE_TYPES and len(spec.options) < 2:
            problems.append(str(_("“%(q)s” needs at least two options.") % {"q": name}))
        if spec.type in CHOICE_TYPES and len(set(spec.option_values())) != len(spec.options):
            problems.append(str(_("“%(q)s” has two options with the same value.") % {"q": name}))
        if spec.type == RATING:
            low, high = spec.bounds()
            if low not in (0, 1) or not low < high <= 10:
                problems.append(
                    str(
                        _("“%(q)s”: a rating scale runs from 0 or 1 up to at most 10.")
                        % {"q": name}
                    )
                )
    for spec in specs:
        cond = spec.condition
        if cond is None:
            continue
        name = spec.text("en") or spec.key
        target = by_key.get(cond.question)
        if target is None:
            problems.append(
                str(_("“%(q)s” depends on a question that does not exist.") % {"q": name})
            )
        elif target.page >= spec.page:
            problems.append(
                str(_("“%(q)s” can only depend on a question on an earlier page.") % {"q": name})
            )
        if cond.op not in CONDITION_OPS:
            problems.append(str(_("“%(q)s” has an unknown condition.") % {"q": name}))
    return problems
