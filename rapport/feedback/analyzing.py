"""The bridge between stored feedback and the offline analyser (rapport.feedback.analysis).

The analyser is loaded once per process (the engine caches it); the active themes are read per
batch, so a theme promoted a minute ago is used by the next intake.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rapport.feedback.analysis import Analysis, ThemeDef
from rapport.feedback.records import ANALYSED_CHARS


def analyzer() -> Any:
    from rapport.feedback.analysis.engine import get_analyzer

    return get_analyzer()


def model_version(engine: Any) -> str:
    """Which model read the text: its version, else when it was trained."""
    for name in ("version", "model_version"):
        value = getattr(engine, name, None)
        if value:
            return str(value)[:64]
    meta = getattr(getattr(engine, "model", None), "meta", None) or {}
    featurizer = meta.get("featurizer", "")
    trained = meta.get("trained_at", "")
    return f"{featurizer}@{trained}"[:64] if trained else str(featurizer)[:64]


def theme_defs() -> list[ThemeDef]:
    from rapport.feedback.models import Theme

    return [
        ThemeDef(
            key=t.key,
            name=t.name,
            keywords=tuple(str(k) for k in t.keywords or () if str(k).strip()),
            examples=tuple(str(e) for e in t.examples or () if str(e).strip()),
        )
        for t in Theme.objects.filter(active=True).only("key", "name", "keywords", "examples")
    ]


def analyze(
    texts: Sequence[str], themes: Sequence[ThemeDef] | None = None
) -> tuple[list[Analysis], str]:
    """(one Analysis per text, the model version). Long texts are read up to ANALYSED_CHARS."""
    engine = analyzer()
    if themes is None:
        themes = theme_defs()
    results = engine.analyze([t[:ANALYSED_CHARS] for t in texts], themes)
    return list(results), model_version(engine)
