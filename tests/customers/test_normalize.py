"""Normalisation rules: canonical forms, and that normalising twice changes nothing."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.customers import normalize

local = st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True)
domain = st.from_regex(r"[A-Za-z0-9-]{1,15}\.[A-Za-z]{2,6}", fullmatch=True)


@given(local, domain, st.sampled_from(["", " ", "\t"]))
def test_email_normalisation_is_idempotent(user, host, pad):
    once = normalize.email(f"{pad}{user}@{host}{pad}")
    assert once == once.lower() == once.strip()
    assert normalize.email(once) == once


@given(st.from_regex(r"09[0-9]{8}", fullmatch=True), st.sampled_from(["", " ", "-"]))
def test_phone_normalisation_is_idempotent_and_e164(digits, sep):
    written = digits[:4] + sep + digits[4:7] + sep + digits[7:]
    once = normalize.phone(written, "TW")
    assert once.startswith("+886") and once[1:].isdigit()
    assert normalize.phone(once, "TW") == once
    assert normalize.phone(once, "US") == once  # an E.164 number ignores the region


@given(st.decimals(min_value=-(10**11), max_value=10**11, places=2, allow_nan=False))
def test_decimal_round_trips(value):
    assert normalize.decimal(str(value)) == value
    assert normalize.decimal(normalize.decimal(str(value))) == value


@pytest.mark.parametrize(
    "value, expected",
    [("zh-TW", "zh-hant"), ("zh_tw", "zh-hant"), ("ZH-HK", "zh-hant"), ("zh-CN", "zh-hans"),
     ("zh-SG", "zh-hans"), ("zh-Hant", "zh-hant"), ("EN", "en")],
)  # fmt: skip
def test_language_spellings(value, expected):
    assert normalize.language(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [("yes", True), ("Y", True), ("1", True), (1, True), ("是", True), (True, True),
     ("no", False), ("n", False), ("0", False), ("否", False), (False, False), ("FALSE", False)],
)  # fmt: skip
def test_yes_no_spellings(value, expected):
    assert normalize.boolean(value) is expected


@pytest.mark.parametrize(
    "fn, value, fragment",
    [
        (normalize.email, "not-an-email", "email"),
        (normalize.email, 42, "email"),
        (lambda v: normalize.phone(v, "TW"), "12", "phone"),
        (normalize.language, "fr", "unknown language"),
        (normalize.boolean, "maybe", "yes/no"),
        (normalize.decimal, "1,234.50", "thousands separators"),
        (normalize.decimal, "12.345", "decimal places"),
        (normalize.decimal, "abc", "not a number"),
        (normalize.decimal, True, "number"),
        (normalize.decimal, float("nan"), "number"),
        (normalize.currency, "NT$", "ISO 4217"),
        (normalize.integer, "1.5", "whole number"),
        (normalize.date, "2024/01/02", "YYYY-MM-DD"),
    ],
)
def test_bad_values_say_what_is_wrong(fn, value, fragment):
    with pytest.raises(ValueError, match=fragment):
        fn(value)


def test_typed_json_values_are_accepted_like_text():
    assert normalize.decimal(1234.5) == Decimal("1234.50")
    assert normalize.decimal("1234.5") == Decimal("1234.50")
    assert normalize.attribute("integer", "7") == normalize.attribute("integer", 7) == 7
    assert normalize.attribute("decimal", "100") == "100"
    assert normalize.attribute("boolean", "是") is True
    assert normalize.currency("twd") == "TWD"
