"""Language detection and Traditional/Simplified folding (rapport.feedback.analysis.text)."""

from __future__ import annotations

import pytest

from rapport.feedback.analysis.text import clean, detect_language, to_simplified


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The service advisor was rude.", "en"),
        ("服務態度很差，等了兩個小時。", "zh-Hant"),
        ("服务态度很差，等了两个小时。", "zh-Hans"),
        ("這台車的後照鏡壞了", "zh-Hant"),
        ("这台车的后视镜坏了", "zh-Hans"),
        ("我們", "zh-Hant"),
        ("我们", "zh-Hans"),
        ("好", "zh-Hant"),  # no script-specific character: Rapport's home market
        ("The 客服 was so rude and never called back", "mixed"),
        ("我覺得這個 plan 太貴了 honestly not worth it", "mixed"),
        ("這台 iPhone 很好用，推薦給大家", "zh-Hant"),  # a brand name does not make it mixed
        ("Great car, 讚", "en"),
        ("", "und"),
        ("   ", "und"),
        ("😡😡😡", "und"),
        ("12345 !!!", "und"),
        ("<script>alert(1)</script>", "und"),
        ("ＦＵＬＬ　ＷＩＤＴＨ text", "en"),
    ],
)
def test_language_table(text: str, expected: str) -> None:
    assert detect_language(clean(text)) == expected


def test_traditional_is_folded_to_simplified_for_analysis() -> None:
    assert to_simplified(clean("我們的服務")) == "我们的服务"
    assert to_simplified("already simplified 服务") == "already simplified 服务"


def test_clean_strips_markup_control_chars_and_width() -> None:
    assert clean("<b>Bad</b>\x00 service<script>x()</script>") == "bad service"
    assert clean("ＡＢＣ") == "abc"
    assert clean(None) == ""
    assert clean(b"\xff\xfebytes").endswith("bytes")
