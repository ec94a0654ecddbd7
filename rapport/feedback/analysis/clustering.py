"""Emerging themes: group recent feedback that no known theme covers, so that a manager can name a
cluster and promote it to a theme.

TF-IDF over the analyser's tokens (Chinese character uni/bigrams, English words and word pairs,
Traditional folded to Simplified), reduced by truncated SVD (LSA) and clustered by k-means; k is
chosen automatically by the silhouette score. Texts far from every centroid stay unclustered
rather than diluting a cluster. Each cluster gets representative quotes (nearest its centroid)
and a suggested name (its most distinctive terms against the rest of the batch).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import ThemeDef
from .text import clean, detect_language, language_and_normalized, to_traditional, tokens

MAX_TEXTS = 5_000  # the most recent texts clustered at once (newest first in the input)
_EN_STOP = """the a an and or but to of in on at for with is are was were be been it this that i my
me we our you your they them he she his her it's its not no so very just have has had do did does
as by from if then than there their what when which who will would can could should all any about
after again also am because before more most much only other out over some such up down too into
's 't us one get got"""
STOPWORDS = frozenset(_EN_STOP.split()) | frozenset(
    "的了是我在也都就和很还有这那个们你他她它吧吗呢啊呀么一不没"
)


@dataclass
class Cluster:
    """A group of similar texts: indices into the input, representative quotes, a suggested name."""

    size: int
    indices: list[int]
    quotes: list[str]
    terms: list[str]
    name: str
    cohesion: float  # mean cosine of members to the centroid (0…1)
    languages: dict[str, int] = field(default_factory=dict)


_URL = re.compile(r"(?:https?://|www\.)\S+|@\w+")


def _terms(normalized: str) -> list[str]:
    """Words / character pairs to cluster on (links and @handles say nothing about a theme)."""
    normalized = _URL.sub(" ", normalized)
    toks = [
        t for t in tokens(normalized) if t not in STOPWORDS and not t.isdigit() and t not in "!?"
    ]
    out = list(t for t in toks if len(t) > 1 or not t.isascii())
    for a, b in zip(toks, toks[1:], strict=False):
        out.append(a + b if len(a) == 1 and len(b) == 1 and not a.isascii() else f"{a} {b}")
    return [t for t in out if t]


def _covered(normalized: Sequence[str], known: Sequence[ThemeDef]) -> np.ndarray:
    if not known:
        return np.zeros(len(normalized), dtype=bool)
    from .engine import get_analyzer
    from .text import feature_sets

    analyzer = get_analyzer()
    hits = analyzer.theme_matches(normalized, feature_sets(normalized), known)
    return np.array([bool(h) for h in hits], dtype=bool)


MERGE_COSINE = 0.6  # clusters whose centroids are this close are one theme cut in two


def _merge_close(z: np.ndarray, labels: np.ndarray) -> tuple[None, np.ndarray, np.ndarray]:
    """Merge clusters with near-identical centroids: the silhouette tends to split a small,
    tight theme into halves, which a manager would only have to join again."""
    labels = labels.copy()
    while True:
        keys = sorted(set(labels.tolist()))
        centers = np.array([z[labels == k].mean(axis=0) for k in keys])
        unit = centers / np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
        sims = unit @ unit.T
        np.fill_diagonal(sims, -1.0)
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        if len(keys) < 2 or sims[i, j] < MERGE_COSINE:
            remap = {k: n for n, k in enumerate(keys)}
            return None, np.array([remap[k] for k in labels.tolist()]), centers
        labels[labels == keys[j]] = keys[i]


def cluster(
    texts: Sequence[str],
    known_themes: Sequence[ThemeDef] = (),
    *,
    max_clusters: int = 12,
    min_size: int = 3,
    quotes: int = 3,
    seed: int = 0,
) -> list[Cluster]:
    """Clusters of the texts not covered by known_themes, biggest first (indices into `texts`)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import silhouette_score

    texts = list(texts)[:MAX_TEXTS]
    cleaned = [clean(t) for t in texts]
    normalized = [language_and_normalized(c)[1] for c in cleaned]
    covered = _covered(normalized, known_themes)
    candidates = [i for i, n in enumerate(normalized) if n and not covered[i] and _terms(n)]
    if len(candidates) < max(2 * min_size, 4):
        return []
    vectorizer = TfidfVectorizer(analyzer=_terms, min_df=2, sublinear_tf=True)
    try:
        x = vectorizer.fit_transform([normalized[i] for i in candidates])
    except ValueError:  # no term occurs twice: nothing in common to cluster on
        return []
    keep = np.asarray(x.getnnz(axis=1) > 0)
    candidates = [c for c, k in zip(candidates, keep, strict=True) if k]
    x = x[keep]
    if x.shape[0] < max(2 * min_size, 4) or x.shape[1] < 2:
        return []
    dims = int(min(100, x.shape[1] - 1, x.shape[0] - 1))
    z = (
        TruncatedSVD(n_components=dims, random_state=seed).fit_transform(x)
        if dims >= 2
        else x.toarray()
    )
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    z = z / np.maximum(norms, 1e-12)

    best: tuple[float, np.ndarray, np.ndarray] | None = None
    upper = min(max_clusters, x.shape[0] // min_size)
    for k in range(2, upper + 1):
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(z)
        if len(set(km.labels_)) < 2:
            continue
        score = float(
            silhouette_score(
                z, km.labels_, metric="cosine", sample_size=min(len(z), 1500), random_state=seed
            )
        )
        if best is None or score > best[0]:
            best = (score, km.labels_, km.cluster_centers_)
    if best is None:
        return []
    _, labels, centers = _merge_close(z, best[1])

    vocab = np.array(vectorizer.get_feature_names_out())
    xd = x.tocsr()
    overall = np.asarray(xd.mean(axis=0)).ravel()
    out: list[Cluster] = []
    for k in range(centers.shape[0]):
        members = np.flatnonzero(labels == k)
        center = centers[k] / max(np.linalg.norm(centers[k]), 1e-12)
        sims = z[members] @ center
        # Members far from their centroid are noise, not part of an emerging theme.
        members, sims = members[sims >= 0.3], sims[sims >= 0.3]
        if len(members) < min_size:
            continue
        order = members[np.argsort(-sims)]
        inside = np.asarray(xd[members].mean(axis=0)).ravel()
        distinct = inside - overall
        top = [str(vocab[j]) for j in np.argsort(-distinct)[:20] if distinct[j] > 0]
        # Prefer words and character pairs to single hanzi ("外送" rather than "外", "送").
        top.sort(key=lambda t: len(t) == 1 and not t.isascii())
        terms: list[str] = []
        for t in top:  # drop a term contained in one already chosen ("服务" beside "服务态度")
            if not any(t in u or u in t for u in terms):
                terms.append(t)
        languages: dict[str, int] = {}
        for i in members:
            lang = detect_language(cleaned[candidates[i]])
            languages[lang] = languages.get(lang, 0) + 1
        if languages.get("zh-Hant", 0) > languages.get("zh-Hans", 0):
            terms = [to_traditional(t) for t in terms]  # name it in the script its quotes use
        seen: set[str] = set()
        reps = []
        for i in order:
            text = str(texts[candidates[i]]).strip()
            if text not in seen:
                seen.add(text)
                reps.append(text[:500])
            if len(reps) == quotes:
                break
        out.append(
            Cluster(
                size=len(members),
                indices=sorted(candidates[i] for i in members),
                quotes=reps,
                terms=terms[:5],
                name=" / ".join(terms[:3]),
                cohesion=round(float(sims.mean()), 3),
                languages=languages,
            )
        )
    out.sort(key=lambda c: (-c.size, -c.cohesion))
    return out
