"""Case rules: which signals open (or attach to) a case. Plain evaluation, no ORM.

One mechanism for every source: a rule turns an event into a `Signal`, and
rapport.cases.actions.opening.open_or_attach turns a signal into a case. Survey responses and
touchpoints are matched here by conditions; [voice] builds signals for negative feedback and
calls open_or_attach itself (or uses a `feedback` rule with `sentiment_at_most`).

Conditions, by trigger:
- response: nps_at_most {max}, csat_at_most {max}, ces_at_most {max}, tier_is {tiers},
  answer_is {question, values} (a chosen answer to a chosen question)
- touchpoint: kind_is {kinds}, repeat_visit {kind, context_key, days} (another visit for the same
  job within days), contacts_within {count, days, kinds} (the customer contacted us `count` times
  within `days`, this one included)
- feedback: sentiment_at_most {max} (-1 … 1)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

RESPONSE = "response"
TOUCHPOINT = "touchpoint"
FEEDBACK = "feedback"
TRIGGERS: dict[str, str] = {
    RESPONSE: _("Survey response completed"),
    TOUCHPOINT: _("Touchpoint recorded"),
    FEEDBACK: _("Feedback analysed"),
}

# condition → (trigger, required params with their types)
CONDITIONS: dict[str, tuple[str, dict[str, type | tuple[type, ...]]]] = {
    "nps_at_most": (RESPONSE, {"max": int}),
    "csat_at_most": (RESPONSE, {"max": int}),
    "ces_at_most": (RESPONSE, {"max": int}),
    "tier_is": (RESPONSE, {"tiers": list}),
    "answer_is": (RESPONSE, {"question": str, "values": list}),
    "kind_is": (TOUCHPOINT, {"kinds": list}),
    "repeat_visit": (TOUCHPOINT, {"kind": str, "context_key": str, "days": int}),
    "contacts_within": (TOUCHPOINT, {"count": int, "days": int, "kinds": list}),
    "sentiment_at_most": (FEEDBACK, {"max": (int, float)}),
}
HISTORY_CONDITIONS = frozenset({"repeat_visit", "contacts_within"})

# The defaults every installation starts with (rapport.cases.defaults installs them once).
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "key": "nps-detractor",
        "name": "NPS detractor (0–6)",
        "condition": "nps_at_most",
        "params": {"max": 6},
        "severity": "medium",
    },
    {
        "key": "csat-low",
        "name": "CSAT 2 or less",
        "condition": "csat_at_most",
        "params": {"max": 2},
        "severity": "medium",
    },
    {
        "key": "ces-hard",
        "name": "Customer effort 3 or less",
        "condition": "ces_at_most",
        "params": {"max": 3},
        "severity": "medium",
    },
    {
        "key": "actively-disengaged",
        "name": "Actively disengaged",
        "condition": "tier_is",
        "params": {"tiers": ["actively_disengaged"]},
        "severity": "high",
    },
    {
        "key": "complaint",
        "name": "Complaint",
        "condition": "kind_is",
        "params": {"kinds": ["complaint"]},
        "severity": "high",
    },
    {
        "key": "repeat-visit",
        "name": "Repeat service visit for the same job within 30 days",
        "condition": "repeat_visit",
        "params": {"kind": "service_visit", "context_key": "job_code", "days": 30},
        "severity": "high",
    },
    {
        "key": "cancellation",
        "name": "Cancellation",
        "condition": "kind_is",
        "params": {"kinds": ["cancellation"]},
        "severity": "high",
    },
    {
        "key": "three-contacts",
        "name": "Three contacts within 7 days",
        "condition": "contacts_within",
        "params": {"count": 3, "days": 7, "kinds": ["inquiry", "complaint", "claim"]},
        "severity": "medium",
    },
    {
        "key": "negative-feedback",
        "name": "Strongly negative feedback",
        "condition": "sentiment_at_most",
        "params": {"max": -0.5},
        "severity": "medium",
    },
)
DEFAULT_TOPIC = "experience"
# Where a case came from, for the source field, by trigger and condition.
SOURCE_OF: dict[str, str] = {
    RESPONSE: "survey",
    TOUCHPOINT: "touchpoint_rule",
    FEEDBACK: "feedback",
}


class RuleError(ValueError):
    """A rule definition that cannot work; the message names the field."""


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    condition: str
    params: Mapping[str, Any]
    topic: str = DEFAULT_TOPIC
    severity: str = "medium"
    unit_path: str = ""  # only events of units in this subtree; "" for all

    @property
    def trigger(self) -> str:
        return CONDITIONS[self.condition][0]


@dataclass(frozen=True)
class Signal:
    """Something that may need a case: who, about what, how bad, and where it came from."""

    customer_id: int
    source: str
    topic: str = DEFAULT_TOPIC
    severity: str = "medium"
    subject: str = ""
    description: str = ""
    unit_id: int | None = None
    staff_id: int | None = None
    response_id: int | None = None
    touchpoint_id: int | None = None
    rule_id: int | None = None
    language: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signal:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class PastTouchpoint:
    """A touchpoint of the same customer before the one being judged (for history rules)."""

    id: int
    kind: str
    occurred_at: dt.datetime
    context: Mapping[str, Any] = field(default_factory=dict)


def validate(condition: str, params: Mapping[str, Any]) -> list[str]:
    """Problems with a rule's condition and parameters, each naming the field."""
    if condition not in CONDITIONS:
        return [f"condition: unknown {condition!r}; known: {', '.join(CONDITIONS)}"]
    problems = []
    for name, kind in CONDITIONS[condition][1].items():
        value = params.get(name)
        if value is None:
            problems.append(f"params.{name}: required for {condition}")
        elif isinstance(value, bool) or not isinstance(value, kind):
            problems.append(f"params.{name}: {value!r} has the wrong type")
    if not problems and condition in {"repeat_visit", "contacts_within"} and params["days"] < 1:
        problems.append("params.days: at least 1")
    if not problems and condition == "contacts_within" and params["count"] < 2:
        problems.append("params.count: at least 2")
    return problems


def _in_unit(spec: RuleSpec, unit_id: int | None, paths: Mapping[int, str]) -> bool:
    if not spec.unit_path:
        return True
    return unit_id is not None and paths.get(unit_id, "").startswith(spec.unit_path)


def _at_most(value: Any, limit: Any) -> bool:
    return value is not None and value <= limit


def response_matches(
    spec: RuleSpec, payload: Mapping[str, Any], answers: Mapping[str, Any] | None = None
) -> bool:
    """Whether a `response.completed` payload fires the rule. `answers` ({question key: value})
    are needed by answer_is only."""
    scores = payload.get("scores") or {}
    p = spec.params
    match spec.condition:
        case "nps_at_most":
            return _at_most(scores.get("nps_score"), p["max"])
        case "csat_at_most":
            return _at_most(scores.get("csat"), p["max"])
        case "ces_at_most":
            return _at_most(scores.get("ces"), p["max"])
        case "tier_is":
            return scores.get("tier") in set(p["tiers"])
        case "answer_is":
            value = (answers or {}).get(p["question"])
            wanted = {str(v) for v in p["values"]}
            if isinstance(value, list):
                return any(str(v) in wanted for v in value)
            return value is not None and str(value) in wanted
    return False


def touchpoint_matches(
    spec: RuleSpec, payload: Mapping[str, Any], history: Sequence[PastTouchpoint] = ()
) -> bool:
    """Whether a `touchpoint.created` payload fires the rule; `history` is the customer's earlier
    touchpoints (needed by the history conditions only, and only the last `days` days)."""
    p = spec.params
    kind = payload.get("kind")
    match spec.condition:
        case "kind_is":
            return kind in set(p["kinds"])
        case "repeat_visit":
            job = (payload.get("context") or {}).get(p["context_key"])
            if kind != p["kind"] or job in (None, ""):
                return False
            at = _instant(payload["occurred_at"])
            since = at - dt.timedelta(days=p["days"])
            return any(
                h.kind == p["kind"]
                and h.id != payload.get("id")
                and since <= h.occurred_at <= at
                and (h.context or {}).get(p["context_key"]) == job
                for h in history
            )
        case "contacts_within":
            kinds = set(p["kinds"] or ())
            if kinds and kind not in kinds:
                return False
            at = _instant(payload["occurred_at"])
            since = at - dt.timedelta(days=p["days"])
            earlier = {
                h.id
                for h in history
                if h.id != payload.get("id")
                and since <= h.occurred_at <= at
                and (not kinds or h.kind in kinds)
            }
            return len(earlier) + 1 >= p["count"]
    return False


def _instant(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def signals_for_responses(
    specs: Iterable[RuleSpec],
    payloads: Iterable[Mapping[str, Any]],
    paths: Mapping[int, str],
    answers_of: Callable[[int], Mapping[str, Any]] | None = None,
) -> list[Signal]:
    """One signal per response that fires a rule (the first matching rule, in the given order).
    Anonymous responses (no customer) cannot have a case and are skipped."""
    specs = [s for s in specs if s.trigger == RESPONSE]
    found = []
    for payload in payloads:
        if not payload.get("customer_id"):
            continue
        for spec in specs:
            if not _in_unit(spec, payload.get("unit_id"), paths):
                continue
            answers = None
            if spec.condition == "answer_is" and answers_of is not None:
                answers = answers_of(payload["response_id"])
            if response_matches(spec, payload, answers):
                found.append(_response_signal(spec, payload))
                break
    return found


def _response_signal(spec: RuleSpec, payload: Mapping[str, Any]) -> Signal:
    scores = {k: v for k, v in (payload.get("scores") or {}).items() if v not in (None, {}, "")}
    shown = ", ".join(
        f"{k} {v}" for k, v in scores.items() if k in {"nps_score", "csat", "ces", "tier"}
    )
    return Signal(
        customer_id=payload["customer_id"],
        source=SOURCE_OF[RESPONSE],
        topic=spec.topic or DEFAULT_TOPIC,
        severity=spec.severity,
        subject=f"{spec.name}: {payload.get('survey_name', '')}".strip(": "),
        description=shown,
        unit_id=payload.get("unit_id"),
        staff_id=payload.get("staff_id"),
        response_id=payload.get("response_id"),
        touchpoint_id=payload.get("touchpoint_id"),
        rule_id=spec.id,
        language=payload.get("language") or "",
    )


def signals_for_touchpoints(
    specs: Iterable[RuleSpec],
    payloads: Iterable[Mapping[str, Any]],
    paths: Mapping[int, str],
    history_of: Callable[[int], Sequence[PastTouchpoint]] | None = None,
) -> list[Signal]:
    """One signal per touchpoint that fires a rule (first matching rule wins)."""
    specs = [s for s in specs if s.trigger == TOUCHPOINT]
    found = []
    for payload in payloads:
        if not payload.get("customer_id"):
            continue
        for spec in specs:
            if not _in_unit(spec, payload.get("unit_id"), paths):
                continue
            history: Sequence[PastTouchpoint] = ()
            if spec.condition in HISTORY_CONDITIONS and history_of is not None:
                history = history_of(payload["customer_id"])
            if touchpoint_matches(spec, payload, history):
                found.append(_touchpoint_signal(spec, payload))
                break
    return found


def _touchpoint_signal(spec: RuleSpec, payload: Mapping[str, Any]) -> Signal:
    kind = payload.get("kind", "")
    context = payload.get("context") or {}
    note = context.get("note") or context.get("text") or context.get("description") or ""
    return Signal(
        customer_id=payload["customer_id"],
        source="complaint" if kind == "complaint" else SOURCE_OF[TOUCHPOINT],
        topic=spec.topic or DEFAULT_TOPIC,
        severity=spec.severity,
        subject=f"{spec.name}: {kind} {payload.get('external_id', '')}".strip(),
        description=str(note)[:2000],
        unit_id=payload.get("unit_id"),
        staff_id=payload.get("staff_id"),
        touchpoint_id=payload.get("id"),
        rule_id=spec.id,
    )


def feedback_matches(spec: RuleSpec, sentiment: float | None) -> bool:
    return spec.condition == "sentiment_at_most" and _at_most(sentiment, spec.params["max"])


def history_window(specs: Iterable[RuleSpec]) -> int:
    """How many days of history the active history rules need (0: none)."""
    return max(
        (int(s.params["days"]) for s in specs if s.condition in HISTORY_CONDITIONS), default=0
    )


def history_kinds(specs: Iterable[RuleSpec]) -> set[str] | None:
    """The touchpoint kinds the history rules look at; None when any kind matters."""
    kinds: set[str] = set()
    for s in specs:
        if s.condition == "repeat_visit":
            kinds.add(s.params["kind"])
        elif s.condition == "contacts_within":
            if not s.params["kinds"]:
                return None
            kinds.update(s.params["kinds"])
    return kinds
