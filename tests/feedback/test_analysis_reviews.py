"""English review sentences (the VADER ground truth in vaderSentiment's sdist): the reader, its
labels and split on small archives built here, its errors, and the shipped model's held-out
accuracy on the real sentences (fetched from PyPI into the corpus cache once)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from rapport.feedback.analysis import corpora
from rapport.feedback.analysis.corpora import (
    REVIEW_FILES,
    VADER_INNER,
    VADER_SDIST,
    CorpusCorrupt,
    CorpusMissing,
    Item,
    is_test,
    parse_review_file,
    review_label,
    review_sentences,
    split,
    vader_sdist,
)

AMAZON = (
    "1_1\t-0.9\ttroubleshooting ad-2500 no picture.\r\n"
    "1_2\t0.3\trepost from january with a better title.\r\n"
    "1_3\t2.5\tworks great, love it!\r\n"
    "2_1\t-0.5\tthe remote broke within a week.\r\n"
    "2_2\t0.5\tdecent sound for the price.\r\n"
    "3_1\t1.0\tgreat product.\r\n"
    "4_1\t-1.0\tgreat product.\r\n"
    "4_2\t0\tit comes in a box.\r\n"
)
MOVIES = (
    "1\t2.26666666667\tThe Rock is destined to be the 21st Century's new ''Conan''.\r\n"
    "2\t-0.6\tEffective but too tepid biopic\r\n"
    "3\t-3.1\tA rainy-day mess, with a hint of Möbius-strip logic.\r\n"
)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_sdist(directory: Path, amazon: str = AMAZON, movies: str = MOVIES) -> Path:
    """A tiny stand-in for the sdist: the same nesting, our own lines."""
    inner = _tar_gz(
        {REVIEW_FILES["amazon"]: amazon.encode(), REVIEW_FILES["movies"]: movies.encode()}
    )
    path = directory / VADER_SDIST
    path.write_bytes(_tar_gz({"vaderSentiment-3.3.2/PKG-INFO": b"x", VADER_INNER: inner}))
    return path


def test_reads_both_files_with_fixed_labels(tmp_path: Path) -> None:
    items = list(review_sentences(archive=make_sdist(tmp_path)))
    by_text = {i.text: i for i in items}
    # "great product." was rated +1.0 in one review and −1.0 in another: dropped as ambiguous
    assert "great product." not in by_text
    assert len(items) == 6 + 3
    assert by_text["troubleshooting ad-2500 no picture."].sentiment == "negative"
    assert by_text["repost from january with a better title."].sentiment == "neutral"
    assert by_text["works great, love it!"].sentiment == "positive"
    assert by_text["the remote broke within a week."].sentiment == "negative"  # |−0.5| ≥ 0.5
    assert by_text["decent sound for the price."].sentiment == "positive"
    assert by_text["it comes in a box."].sentiment == "neutral"
    assert by_text["it comes in a box."].score == 0.0
    moebius = by_text["A rainy-day mess, with a hint of Möbius-strip logic."]  # UTF-8, CRLF gone
    assert (moebius.corpus, moebius.language, moebius.score) == ("movies", "en", -3.1)
    assert by_text["works great, love it!"].group == "review 1"  # an Amazon review splits whole
    assert moebius.group == ""  # movie snippets are independent: keyed by their text
    assert [i.corpus for i in review_sentences("amazon", make_sdist(tmp_path))] == ["amazon"] * 6


def test_label_rule() -> None:
    assert [review_label(m) for m in (-4, -0.5, -0.49, 0, 0.49, 0.5, 4)] == [
        "negative",
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
        "positive",
    ]


def test_split_is_stable_disjoint_and_keeps_reviews_whole() -> None:
    lines = "".join(
        f"{r}_{s}\t{(-1) ** s * 1.5}\treview {r} sentence {s}\r\n"
        for r in range(1, 201)
        for s in range(1, 4)
    )
    items = list(parse_review_file(lines.encode(), "amazon", "t"))
    train, test = split(iter(items))
    again = split(iter(reversed(items)))
    assert {i.text for i in test} == {i.text for i in again[1]}
    assert not {i.text for i in train} & {i.text for i in test}
    assert len(train) + len(test) == 600
    assert 0.1 < len(test) / 600 < 0.3
    for review in {i.group for i in items}:
        sides = {i in test for i in items if i.group == review}
        assert len(sides) == 1  # never part of a review in train and part in test
    assert is_test("movies", "x") == is_test("movies", "x")


@pytest.mark.parametrize(
    ("amazon", "message"),
    [
        ("1_1\tgood\tnice.\r\n", "amazonReviewSnippets_GroundTruth.txt:1: mean rating 'good'"),
        ("1_1\t0.5\r\n", "amazonReviewSnippets_GroundTruth.txt:1: expected id, mean rating"),
        ("1_1\t0.5\tok\r\n1_2\t9\tbad scale\r\n", "GroundTruth.txt:2: mean rating 9.0 is outside"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, amazon: str, message: str) -> None:
    with pytest.raises(CorpusCorrupt, match=message):
        list(review_sentences(archive=make_sdist(tmp_path, amazon=amazon)))


def test_non_utf8_line(tmp_path: Path) -> None:
    with pytest.raises(CorpusCorrupt, match=r":2: not UTF-8"):
        list(parse_review_file(b"1\t1\tfine\r\n2\t1\tcaf\xe9\r\n", "movies", "f.txt"))


def test_corrupt_or_incomplete_archive(tmp_path: Path) -> None:
    bad = tmp_path / VADER_SDIST
    bad.write_bytes(b"\x1f\x8b this is not a gzip stream")
    with pytest.raises(CorpusCorrupt, match="not a readable .tar.gz"):
        list(review_sentences(archive=bad))
    half = make_sdist(tmp_path)
    half.write_bytes(half.read_bytes()[: len(half.read_bytes()) // 2])
    with pytest.raises(CorpusCorrupt, match="not a readable .tar.gz"):
        list(review_sentences(archive=half))
    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(_tar_gz({"vaderSentiment-3.3.2/PKG-INFO": b"x"}))
    with pytest.raises(CorpusCorrupt, match="no vaderSentiment-3.3.2/additional_resources"):
        list(review_sentences(archive=empty))


def test_cached_file_is_checked_and_refetched(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tampered = make_sdist(tmp_path)  # right name, wrong content
    with pytest.raises(CorpusCorrupt, match="does not match its pinned sha256"):
        vader_sdist(tmp_path, fetch=False)
    with pytest.raises(CorpusCorrupt, match="is missing"):
        vader_sdist(tmp_path / "nowhere", fetch=False)

    def fake_pip(dest: Path) -> None:  # PyPI is the outside world: it serves a wrong file
        make_sdist(dest)

    monkeypatch.setattr(corpora, "_pip_download", fake_pip)
    with pytest.raises(CorpusCorrupt, match="not the pinned"):
        vader_sdist(tmp_path)
    assert tampered.read_bytes()  # the cached file was left alone, no half-written file beside
    assert sorted(p.name for p in tmp_path.iterdir()) == [VADER_SDIST]

    def no_network(dest: Path) -> None:
        raise CorpusMissing("Could not fetch the English review sentences (network down)")

    monkeypatch.setattr(corpora, "_pip_download", no_network)
    with pytest.raises(CorpusMissing, match="Could not fetch"):
        vader_sdist(tmp_path / "empty-cache")


def test_pip_failure_is_reported_clearly(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # An interpreter without pip stands in for a pip that cannot reach PyPI.
    monkeypatch.setattr(corpora.sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(CorpusMissing, match=r"Could not run .*pip download"):
        vader_sdist(tmp_path)


def test_shipped_model_on_held_out_review_sentences() -> None:
    """The issue's target, on the real sentences: accuracy ≥ 0.80 on the held-out test split
    (fetches the sdist from PyPI into the corpus cache when it is not there yet)."""
    from rapport.feedback.analysis.engine import get_analyzer
    from rapport.feedback.analysis.training import check_split, polarity_rows

    analyzer = get_analyzer()
    check_split(analyzer.model)  # trained under today's split: no test sentence was seen
    amazon = split(review_sentences("amazon"))[1]
    movies = split(review_sentences("movies"))[1]
    assert (len(amazon), len(movies)) == (953, 2137)  # the split is pinned
    assert all(isinstance(i, Item) and i.language == "en" for i in amazon + movies)
    rows = {(r.task, r.corpus): r for r in polarity_rows(analyzer, amazon, movies)}
    both = rows["sentiment polarity", "review sentences, both"]
    assert both.n == 772 + 2025  # the sentences people rated clearly (|mean| ≥ 0.5)
    assert both.accuracy >= 0.80, both
    assert rows["polarity, mean ≠ 0", "review sentences, both"].n == 3056
