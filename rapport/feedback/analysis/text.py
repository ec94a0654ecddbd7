"""Text preparation for the analyser: cleaning, language detection, Traditional→Simplified folding
and hashed features. Plain Python + NumPy so that loading stays fast (no scikit-learn at run time).

The same `featurize` is used by training (rapport.feedback.analysis.training) and by the engine,
so a model always sees features built exactly as they were when it was trained.
"""

from __future__ import annotations

import html
import re
import unicodedata
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .lexicon import lexicon_features

FEATURIZER_VERSION = 5
N_FEATURES = 1 << 20  # hashed feature space; weights of unseen buckets are 0 and not stored
# (2^18 was saturated once Chinese words were added: 96 % of the buckets in use, many collisions)
MAX_CHARS = 20_000  # a text is analysed on its first 20,000 characters (a 1 MB text stays fast)

LANGUAGES = ("en", "zh-Hant", "zh-Hans", "mixed", "und")

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_EMOJI = "\U0001f300-\U0001faff\u2600-\u27bf"
_TAGS_WITH_BODY = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]{0,2000}>")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_SPACES = re.compile(r"\s+")
_LATIN_WORD = re.compile(r"[a-z]{2,}")
_TOKEN = re.compile(f"[{_CJK}]|[a-z0-9]+(?:'[a-z]+)?|[{_EMOJI}]|[!?]")
# C0/C1 control characters (but tab and newline), the replacement char, zero-width marks.
_CONTROL = {c: " " for c in (*range(0, 9), *range(11, 32), *range(127, 160))}
_CONTROL.update({0xFFFD: " ", 0x200B: None, 0x200C: None, 0x200D: None, 0xFEFF: None})


@lru_cache(maxsize=2)
def _converter(config: str):  # type: ignore[no-untyped-def]
    import opencc

    try:
        return opencc.OpenCC(config)
    except Exception:  # older bindings want the file name
        return opencc.OpenCC(f"{config}.json")


def to_simplified(text: str) -> str:
    return _converter("t2s").convert(text) if _CJK_CHAR.search(text) else text


def to_traditional(text: str) -> str:
    return _converter("s2t").convert(text) if _CJK_CHAR.search(text) else text


def clean(text: object) -> str:
    """Text as analysed: markup and control characters removed, NFKC (full-width → ASCII), lower
    case. Never raises: None and non-strings become text, bytes are decoded leniently."""
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        text = str(text)
    text = text[:MAX_CHARS]
    if "<" in text:
        text = _TAG.sub(" ", _TAGS_WITH_BODY.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    text = text.translate(_CONTROL)
    # Lone surrogates (from broken decoders) would break encoding later on.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def _differing(a: str, b: str) -> int:
    if len(a) == len(b):
        return sum(1 for x, y in zip(a, b, strict=True) if x != y)
    return len(set(a) ^ set(b))


def detect_language(cleaned: str) -> str:
    """en, zh-Hant, zh-Hans, mixed or und (nothing to read: empty, digits, emoji only)."""
    return language_and_normalized(cleaned)[0]


def language_and_normalized(cleaned: str) -> tuple[str, str]:
    """(language, the text folded to Simplified) with one OpenCC pass each way.

    Chinese script: characters that OpenCC's t2s changes are Traditional-only, those s2t changes
    are Simplified-only; the majority wins. A text with neither (e.g. 好) is taken as zh-Hant,
    Rapport's home market. Mixed: at least two hanzi and two Latin words, the minority ≥ 10 %."""
    n_cjk = len(_CJK_CHAR.findall(cleaned))
    if n_cjk == 0:
        return ("en" if _LATIN_WORD.search(cleaned) else "und"), cleaned
    n_words = len(_LATIN_WORD.findall(cleaned))
    simplified = to_simplified(cleaned)
    weight_latin = 1.5 * n_words  # a word carries more than one hanzi
    if n_words >= 2 and n_cjk >= 2 and min(n_cjk, weight_latin) / (n_cjk + weight_latin) >= 0.1:
        return "mixed", simplified
    if weight_latin > n_cjk:
        return "en", simplified
    traditional_only = _differing(cleaned, simplified)
    simplified_only = _differing(cleaned, to_traditional(cleaned))
    return ("zh-Hans" if simplified_only > traditional_only else "zh-Hant"), simplified


def tokens(normalized: str) -> list[str]:
    return _TOKEN.findall(normalized)


def _grams(toks: list[str]) -> list[str]:
    """Unigrams, bigrams and trigrams of tokens (a hanzi is a token, so Chinese gets character
    n-grams and English word n-grams), plus a 5-letter prefix for long English words."""
    out = ["<s>"]  # every text has one feature, so no row is empty
    out.extend(toks)
    for t in toks:
        if len(t) > 6 and t[0].isascii():
            out.append("~" + t[:5])
    n = len(toks)
    for i in range(n - 1):
        a, b = toks[i], toks[i + 1]
        out.append(a + b if len(a) == 1 and len(b) == 1 else a + " " + b)
        if i < n - 2:
            c = toks[i + 2]
            out.append(a + " " + b + " " + c)
    return out


ZH_WORDS_FILE = Path(__file__).resolve().parent / "data" / "zh_words.txt"
ZH_WORD_LENGTHS = (4, 3, 2)  # longest first: forward maximum matching
_CJK_RUN = re.compile(f"[{_CJK}]+")


@lru_cache(maxsize=1)
def zh_words() -> frozenset[str]:
    """The Chinese word list of the segmenter (Simplified, 2–4 hanzi): jieba's dictionary words
    of frequency ≥ 50, written to data/zh_words.txt by `training.write_zh_words` (~20 ms to read;
    jieba itself is not needed at run time)."""
    try:
        return frozenset(ZH_WORDS_FILE.read_text(encoding="utf-8").split())
    except OSError:
        return frozenset()


def zh_segments(normalized: str) -> list[str]:
    """Words of the Chinese runs of a (Simplified) text by forward maximum matching against
    `zh_words()`; a hanzi in no word stays alone. Greedy but ~50 µs a review, where jieba's
    DAG segmenter takes ~0.5 ms and would halve the analyser's throughput."""
    words = zh_words()
    out: list[str] = []
    for run in _CJK_RUN.findall(normalized):
        i, n = 0, len(run)
        while i < n:
            for size in ZH_WORD_LENGTHS:
                if i + size <= n and run[i : i + size] in words:
                    out.append(run[i : i + size])
                    i += size
                    break
            else:
                out.append(run[i])
                i += 1
    return out


def _word_grams(normalized: str) -> list[str]:
    """Chinese word unigrams and bigrams (beside the character n-grams): 不|满意 and 没有|问题
    read as units a character window cuts across."""
    ws = zh_segments(normalized)
    out = ["w:" + w for w in ws]
    out.extend("w2:" + a + "|" + b for a, b in zip(ws, ws[1:], strict=False))
    return out


_MASK = N_FEATURES - 1


class _FeatureIds(dict[str, int]):
    """feature → its hashed id (crc32), computed the first time it is seen: a big batch looks
    up millions of n-grams, most seen before, so the look-ups are C-level dict reads."""

    def __missing__(self, feature: str) -> int:
        if len(self) > 2_000_000:
            self.clear()
        i = zlib.crc32(feature.encode("utf-8")) & _MASK
        self[feature] = i
        return i


_index_cache = _FeatureIds()


def _index(feature: str) -> int:
    return _index_cache[feature]


BOS_ID = _index("<s>")


def feature_sets(normalized_texts: Sequence[str]) -> list[frozenset[int]]:
    """The hashed feature ids of each text (binary bag of n-grams)."""
    lookup = _index_cache.__getitem__
    out = []
    for text in normalized_texts:
        grams = _grams(tokens(text))
        grams += lexicon_features(text)  # cue_features, then polarity_features
        if _CJK_CHAR.search(text):
            grams += _word_grams(text)
            grams.append("#zh")
        else:
            grams.append("#latin")
        out.append(frozenset(map(lookup, grams)))
    return out


def csr(sets: Sequence[frozenset[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data) of the l2-normalised binary matrix, rows = texts."""
    lengths = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    indptr = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.fromiter(
        (i for s in sets for i in s), dtype=np.int32, count=int(indptr[-1]) if len(sets) else 0
    )
    data = np.repeat(1.0 / np.sqrt(np.maximum(lengths, 1)), lengths).astype(np.float32)
    return indptr, indices, data
