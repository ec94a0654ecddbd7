"""Offline text analytics for the voice of the customer: language, sentiment, churn causes, themes.

Plain code, no ORM and no HTTP: the intake, the `rapport feedback` command and the benchmark all
call `Analyzer.analyze`. Models ship inside Rapport (trained by `rapport feedback train`); nothing
is downloaded at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The eight churn causes of DOMAIN.md (R5) — the cause taxonomy; same codes as
# rapport.cases.models.CHURN_CAUSES.
CAUSES: tuple[str, ...] = (
    "price",
    "inconvenience",
    "core_failure",
    "service_encounter",
    "response_failure",
    "competition",
    "ethics",
    "involuntary",
)


@dataclass(frozen=True)
class ThemeDef:
    """A user-defined theme: a name, keywords (any language) and a few example texts."""

    key: str
    name: str
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analysis:
    """What the analyser read in one text. `normalized` is the text used for analysis
    (Traditional Chinese folded to Simplified, etc.); the original is kept by the caller."""

    language: str  # "en", "zh-Hant", "zh-Hans", "mixed", "und"
    sentiment: str  # "negative", "neutral", "positive"
    sentiment_score: float  # -1 (most negative) … 1 (most positive)
    causes: tuple[tuple[str, float], ...] = ()  # (cause, confidence) above threshold, best first
    themes: tuple[tuple[str, float], ...] = ()  # (theme key, confidence)
    normalized: str = ""
    severity: float = 0.0  # 0 … 1, how bad: drives case rules
    extra: dict[str, object] = field(default_factory=dict)
