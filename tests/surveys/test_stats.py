"""Confidence intervals: textbook values and properties that must hold for any data."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.surveys import stats


@pytest.mark.parametrize(
    ("df", "value"),
    [(1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423), (100, 1.9840)],
)
def test_t_quantiles_match_the_tables(df, value):
    assert stats.t_quantile(0.975, df) == pytest.approx(value, abs=1e-3)


def test_wilson_textbook():
    # 8 of 10: Wilson 95% interval is (0.490, 0.943).
    ci = stats.wilson_interval(8, 10)
    assert ci.estimate == pytest.approx(0.8)
    assert ci.low == pytest.approx(0.4902, abs=1e-3)
    assert ci.high == pytest.approx(0.9433, abs=1e-3)
    assert ci.small_sample


def test_mean_interval_textbook():
    ci = stats.mean_interval([2, 4, 4, 4, 5, 5, 7, 9])  # mean 5, sd 2.138
    half = 2.3646 * 2.13809 / math.sqrt(8)
    assert ci.estimate == pytest.approx(5)
    assert ci.low == pytest.approx(5 - half, abs=1e-3)
    assert ci.high == pytest.approx(5 + half, abs=1e-3)


def test_nps_adjusted_wald_textbook():
    # 50 promoters, 30 passives, 20 detractors: NPS 30; adjusted n 103,
    # p_pro 50.75/103, p_det 20.75/103.
    ci = stats.nps_interval(50, 30, 20)
    p, d = 50.75 / 103, 20.75 / 103
    margin = 1.959964 * math.sqrt((p + d - (p - d) ** 2) / 103)
    assert ci.estimate == pytest.approx(30)
    assert ci.low == pytest.approx(100 * (p - d - margin), abs=1e-6)
    assert ci.high == pytest.approx(100 * (p - d + margin), abs=1e-6)
    assert not ci.small_sample


def test_empty_groups_have_no_interval():
    assert stats.nps_interval(0, 0, 0) is None
    assert stats.wilson_interval(0, 0) is None
    assert stats.mean_interval([]) is None


counts = st.integers(min_value=0, max_value=5000)


@given(counts, counts, counts)
def test_nps_interval_is_bounded_and_contains_the_estimate(pro, pas, det):
    ci = stats.nps_interval(pro, pas, det)
    if pro + pas + det == 0:
        assert ci is None
        return
    assert -100 <= ci.low <= ci.high <= 100
    # The adjustment shrinks towards 0 a little: the estimate lies within the interval or
    # within the adjustment's reach of it.
    assert ci.low - 1e-9 <= ci.estimate + 75 / (pro + pas + det + 3)
    assert ci.estimate - 75 / (pro + pas + det + 3) <= ci.high + 1e-9


@given(counts, counts, counts)
def test_more_promoters_never_lower_the_interval(pro, pas, det):
    if pro + pas + det == 0:
        return
    a = stats.nps_interval(pro, pas, det)
    b = stats.nps_interval(pro + 1, pas, det)
    assert b.estimate >= a.estimate - 1e-9


@given(st.integers(min_value=1, max_value=10_000), st.data())
def test_wilson_is_within_zero_one_and_contains_p(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    ci = stats.wilson_interval(k, n)
    assert 0 <= ci.low <= ci.estimate <= ci.high <= 1
    assert ci.small_sample == (n < stats.SMALL_SAMPLE)


@given(st.integers(min_value=1, max_value=500))
def test_wilson_narrows_as_n_grows(n):
    small = stats.wilson_interval(n, 2 * n)
    large = stats.wilson_interval(4 * n, 8 * n)
    assert large.high - large.low < small.high - small.low


@given(st.lists(st.integers(min_value=1, max_value=7), min_size=2, max_size=300))
def test_mean_interval_contains_the_mean(values):
    ci = stats.mean_interval(values)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.estimate == pytest.approx(sum(values) / len(values))


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0.55, max_value=0.999))
def test_t_quantile_inverts_the_cdf_and_exceeds_the_normal(df, p):
    t = stats.t_quantile(p, df)
    assert stats.t_cdf(t, df) == pytest.approx(p, abs=1e-7)
    assert t >= stats.NormalDist().inv_cdf(p) - 1e-9
