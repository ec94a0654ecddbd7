"""The analyser: one linear model over hashed n-grams scores sentiment and the eight churn causes
of a whole batch with a few NumPy operations; themes are matched by keyword and by similarity to
their examples.

Models are NumPy weights (`model.npz` + `model.json`) trained by `rapport feedback train`; the
shipped ones live in ./models, `settings.RAPPORT_FEEDBACK_MODEL_DIR` overrides. Loading needs no
scikit-learn, so it takes a fraction of a second.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import CAUSES, Analysis, ThemeDef
from .text import (
    BOS_ID as _BOS,
)
from .text import (
    FEATURIZER_VERSION,
    N_FEATURES,
    clean,
    csr,
    feature_sets,
    language_and_normalized,
    to_simplified,
)

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
SHIPPED_DIR = Path(__file__).resolve().parent / "models"
MODEL_FILE, META_FILE = "model.npz", "model.json"

NEUTRAL_BAND = 0.2  # |positive − negative| below this reads as neutral
DEFAULT_CAUSE_THRESHOLD = 0.5
THEME_SIMILARITY = 0.3  # cosine to the nearest example for a theme without a keyword hit
# How much each cause weighs in severity: a customer who feels cheated (ethics) or ignored
# (response_failure) is closer to leaving than one put off by a small inconvenience.
CAUSE_WEIGHT: dict[str, float] = {
    "price": 0.7,
    "inconvenience": 0.5,
    "core_failure": 0.9,
    "service_encounter": 0.8,
    "response_failure": 0.9,
    "competition": 0.8,
    "ethics": 1.0,
    "involuntary": 0.4,
}


class ModelMissing(FileNotFoundError):
    """No trained model where one was expected; `rapport feedback train` writes one."""


HEADS = ("en", "zh")  # one sentiment head per script: each is tuned on its own language


@dataclass
class Model:
    # (N_FEATURES, 3 × heads + len(CAUSES)) float32: the sentiment logits of each head (English,
    # then Chinese), then the cause logits. A model with one head uses it for every language.
    weights: np.ndarray
    bias: np.ndarray  # (3 + len(CAUSES),)
    thresholds: np.ndarray  # (len(CAUSES),) probability above which a cause is reported
    meta: dict

    def save(self, directory: Path) -> None:
        """Only the rows a training text touched are stored (float16): a few MB at most."""
        directory.mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(np.any(self.weights != 0, axis=1)).astype(np.int32)
        np.savez_compressed(
            directory / MODEL_FILE,
            rows=rows,
            weights=self.weights[rows].astype(np.float16),
            bias=self.bias.astype(np.float32),
            thresholds=self.thresholds.astype(np.float32),
        )
        meta = dict(self.meta, featurizer=FEATURIZER_VERSION, n_features=N_FEATURES)
        meta.update(sentiments=list(SENTIMENTS), causes=list(CAUSES))
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Model:
        path, meta_path = directory / MODEL_FILE, directory / META_FILE
        if not path.exists() or not meta_path.exists():
            raise ModelMissing(f"No feedback model in {directory}: run `rapport feedback train`.")
        meta = json.loads(meta_path.read_text())
        if meta.get("featurizer") != FEATURIZER_VERSION or meta.get("causes") != list(CAUSES):
            raise ModelMissing(
                f"The feedback model in {directory} was built for another version of the "
                "analyser: run `rapport feedback train`."
            )
        with np.load(path) as z:
            weights = np.zeros((N_FEATURES, z["weights"].shape[1]), dtype=np.float32)
            weights[z["rows"]] = z["weights"].astype(np.float32)
            return cls(weights, z["bias"].copy(), z["thresholds"].copy(), meta)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class _CompiledTheme:
    key: str
    pattern: re.Pattern[str] | None
    examples: tuple[frozenset[int], ...]


class Analyzer:
    """Batch analysis of texts; thread-safe (no state changes after construction)."""

    def __init__(self, model: Model, directory: Path | None = None) -> None:
        self.model = model
        self.directory = directory
        self._themes: dict[ThemeDef, _CompiledTheme] = {}
        self._lock = threading.Lock()

    # ---- the pieces, usable on their own (bench, evaluation) ----
    def prepare(self, texts: Sequence[object]) -> tuple[list[str], list[str], list[str]]:
        """(cleaned, language, normalised) per text."""
        cleaned = [clean(t) for t in texts]
        pairs = [language_and_normalized(c) for c in cleaned]
        langs = [lang for lang, _ in pairs]
        normalized = [n for _, n in pairs]
        return cleaned, langs, normalized

    def logits(self, sets: Sequence[frozenset[int]]) -> np.ndarray:
        indptr, indices, data = csr(sets)
        if len(sets) == 0:
            return np.zeros((0, self.model.weights.shape[1]), dtype=np.float32)
        gathered = self.model.weights[indices] * data[:, None]
        return np.add.reduceat(gathered, indptr[:-1], axis=0) + self.model.bias

    @property
    def heads(self) -> int:
        return (self.model.weights.shape[1] - len(CAUSES)) // len(SENTIMENTS)

    @property
    def version(self) -> str:
        """Identifies the model that produced an analysis (stored beside it by the intake)."""
        return f"f{FEATURIZER_VERSION}-{self.model.meta.get('trained_at', 'unknown')}"

    def sentiment_probabilities(self, logits: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        """English texts read by the English head, Chinese by the Chinese one, mixed by both."""
        k = len(SENTIMENTS)
        en = _softmax(logits[:, :k])
        if self.heads < 2:
            return en
        zh = _softmax(logits[:, k : 2 * k])
        is_zh = np.array([lang.startswith("zh") for lang in langs], dtype=bool)[:, None]
        is_mixed = np.array([lang == "mixed" for lang in langs], dtype=bool)[:, None]
        return np.where(is_mixed, (en + zh) / 2, np.where(is_zh, zh, en))

    def cause_probabilities(self, logits: np.ndarray) -> np.ndarray:
        return _sigmoid(logits[:, self.heads * len(SENTIMENTS) :])

    # ---- themes ----
    def _compile(self, theme: ThemeDef) -> _CompiledTheme:
        with self._lock:
            hit = self._themes.get(theme)
            if hit is None:
                parts = []
                for kw in theme.keywords:
                    k = to_simplified(clean(kw))
                    if not k:
                        continue
                    esc = re.escape(k)
                    parts.append(rf"(?<![a-z0-9]){esc}(?![a-z0-9])" if k[:1].isascii() else esc)
                pattern = re.compile("|".join(parts)) if parts else None
                examples = [to_simplified(clean(e)) for e in theme.examples]
                sets = tuple(s - {_BOS} for s in feature_sets([e for e in examples if e]))
                hit = _CompiledTheme(theme.key, pattern, tuple(s for s in sets if s))
                if len(self._themes) > 1000:
                    self._themes.clear()
                self._themes[theme] = hit
            return hit

    def theme_matches(
        self, normalized: Sequence[str], sets: Sequence[frozenset[int]], themes: Sequence[ThemeDef]
    ) -> list[tuple[tuple[str, float], ...]]:
        compiled = [self._compile(t) for t in themes]
        out: list[tuple[tuple[str, float], ...]] = []
        for text, features in zip(normalized, sets, strict=True):
            feats = features - {_BOS}
            found = []
            for theme in compiled:
                keyword = bool(theme.pattern and text and theme.pattern.search(text))
                sim = 0.0
                if feats:
                    for ex in theme.examples:
                        s = len(feats & ex) / math.sqrt(len(feats) * len(ex))
                        sim = max(sim, s)
                if keyword:
                    conf = 0.85 + 0.15 * min(1.0, sim / 0.5)
                elif sim >= THEME_SIMILARITY:
                    conf = min(0.8, sim)
                else:
                    continue
                found.append((theme.key, round(conf, 3)))
            found.sort(key=lambda kv: -kv[1])
            out.append(tuple(found))
        return out

    # ---- the API ----
    def analyze(self, texts: Sequence[object], themes: Sequence[ThemeDef] = ()) -> list[Analysis]:
        """Language, sentiment, causes, themes and severity of each text (same order)."""
        if isinstance(texts, str):
            texts = [texts]
        cleaned, langs, normalized = self.prepare(texts)
        sets = feature_sets(normalized)
        logits = self.logits(sets)
        sent = self.sentiment_probabilities(logits, langs)
        cause = self.cause_probabilities(logits)
        score = sent[:, 2] - sent[:, 0]
        # Praise rarely names a churn cause: damp causes as the text gets more positive.
        cause = cause * (1.0 - 0.6 * np.clip(score, 0.0, 1.0))[:, None]
        unreadable = np.array([lang == "und" for lang in langs], dtype=bool)
        score = np.where(unreadable, 0.0, score)
        weights = np.array([CAUSE_WEIGHT[c] for c in CAUSES])
        top = (cause * weights).max(axis=1) if len(texts) else np.zeros(0)
        negativity = np.clip(-score, 0.0, 1.0)
        severity = np.clip(negativity * (0.6 + 0.4 * top), 0.0, 1.0)
        theme_hits = self.theme_matches(normalized, sets, themes) if themes else None
        thresholds = self.model.thresholds
        results = []
        for i in range(len(cleaned)):
            s = float(score[i])
            if unreadable[i] or abs(s) < NEUTRAL_BAND or sent[i, 1] >= sent[i].max():
                label = "neutral"
            else:
                label = "positive" if s > 0 else "negative"
            if unreadable[i]:
                causes: tuple[tuple[str, float], ...] = ()
            else:
                above = np.flatnonzero(cause[i] >= thresholds)
                ranked = sorted(above, key=lambda j: -cause[i, j])
                causes = tuple((CAUSES[j], round(float(cause[i, j]), 3)) for j in ranked)
            results.append(
                Analysis(
                    language=langs[i],
                    sentiment=label,
                    sentiment_score=round(s, 4),
                    causes=causes,
                    themes=theme_hits[i] if theme_hits is not None else (),
                    normalized=normalized[i],
                    severity=round(float(severity[i]), 4),
                    extra={
                        "sentiment_probabilities": {
                            k: round(float(v), 4) for k, v in zip(SENTIMENTS, sent[i], strict=True)
                        }
                    },
                )
            )
        return results


_cache: dict[Path, Analyzer] = {}
_cache_lock = threading.Lock()


def model_dir() -> Path:
    """settings.RAPPORT_FEEDBACK_MODEL_DIR when set, else the models shipped with Rapport."""
    try:
        from django.conf import settings

        configured = (
            getattr(settings, "RAPPORT_FEEDBACK_MODEL_DIR", None) if settings.configured else None
        )
    except Exception:  # outside Django (a benchmark child process)
        configured = None
    return Path(configured) if configured else SHIPPED_DIR


def get_analyzer(directory: Path | str | None = None) -> Analyzer:
    """The analyser for a model directory, loaded once per process."""
    path = Path(directory) if directory else model_dir()
    with _cache_lock:
        analyzer = _cache.get(path)
        if analyzer is None:
            analyzer = Analyzer(Model.load(path), path)
            _cache[path] = analyzer
        return analyzer


def reset_analyzer() -> None:
    """Forget loaded models (after `rapport feedback train` wrote new ones)."""
    with _cache_lock:
        _cache.clear()
