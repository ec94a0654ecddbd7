"""Scores by cell and tests for a change: properties (hypothesis) and textbook cases."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from rapport.insights import measures
from rapport.surveys import stats

counts = st.integers(min_value=0, max_value=400)


def responses(rows):
    return pl.DataFrame(
        rows,
        schema={
            "key": pl.String,
            "nps_class": pl.String,
            "csat": pl.Int64,
            "ces": pl.Int64,
            "csi_index": pl.Float64,
            "loyalty": pl.Float64,
            "attachment": pl.Float64,
            "tier": pl.String,
        },
        orient="row",
    )


classes = st.sampled_from(["promoter", "passive", "detractor", ""])
tiers = st.sampled_from(["fully_engaged", "engaged", "indifferent", "actively_disengaged", ""])
row = st.tuples(
    st.sampled_from(["u1", "u2"]),
    classes,
    st.one_of(st.none(), st.integers(1, 5)),
    st.one_of(st.none(), st.integers(1, 7)),
    st.one_of(st.none(), st.floats(0, 1000)),
    st.none(),
    st.none(),
    tiers,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=60))
def test_cells_agree_with_the_survey_statistics(rows):
    frame = responses(rows)
    cells = measures.with_intervals(
        measures.cell_statistics(measures.response_contributions(frame), ["key"])
    )
    for cell in cells.iter_rows(named=True):
        mine = frame.filter(pl.col("key") == cell["key"])
        if cell["measure"] == "nps":
            p, s, d = (int((mine["nps_class"] == c).sum()) for c in ("promoter", "passive",
                                                                     "detractor"))  # fmt: skip
            expected = stats.nps_interval(p, s, d)
            assert (cell["a"], cell["b"], cell["c"]) == (p, s, d)
        elif cell["measure"] == "csat":
            values = mine["csat"].drop_nulls()
            expected = stats.wilson_interval(int((values >= 4).sum()), values.len())
        elif cell["measure"] == "csi":
            expected = stats.mean_interval(mine["csi_index"].drop_nulls().to_list())
        elif cell["measure"].startswith("tier."):
            tiered = mine.filter(pl.col("tier") != "")
            hits = int((tiered["tier"] == cell["measure"][5:]).sum())
            expected = stats.wilson_interval(hits, tiered.height)
        else:
            continue
        if cell["measure"] == "nps":  # adjusted Wald centres on the adjusted shares
            assert -100 <= cell["low"] <= cell["high"] <= 100
        else:
            assert cell["low"] <= cell["estimate"] + 1e-9 <= cell["high"] + 2e-9
        assert cell["estimate"] == pytest.approx(expected.estimate, abs=1e-9)
        assert cell["low"] == pytest.approx(expected.low, abs=1e-6)
        assert cell["high"] == pytest.approx(expected.high, abs=1e-6)
        assert cell["small_sample"] == expected.small_sample


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=80))
def test_mean_from_moments_is_the_t_interval(values):
    got = measures.mean_from_moments(
        len(values), math.fsum(values), math.fsum(v * v for v in values)
    )
    expected = stats.mean_interval(values)
    # Σx² − n·mean² loses digits when the values barely differ: ~1e-7 of their scale.
    tolerance = 1e-7 * (1 + max(abs(v) for v in values))
    assert got.estimate == pytest.approx(expected.estimate, abs=1e-9)
    assert got.low == pytest.approx(expected.low, abs=tolerance)
    assert got.high == pytest.approx(expected.high, abs=tolerance)


def test_months_add_up_to_the_quarter():
    rows = [("u1", "promoter", 5, None, None, None, None, "")] * 3 + [
        ("u1", "detractor", 2, None, None, None, None, "")
    ]
    stats_ = measures.cell_statistics(measures.response_contributions(responses(rows)), ["key"])
    doubled = measures.add_statistics(pl.concat([stats_, stats_]), ["key"])
    nps = doubled.filter(pl.col("measure") == "nps").row(0, named=True)
    assert (nps["n"], nps["a"], nps["c"]) == (8, 6, 2)


def test_nps_change_textbook():
    # 50/30/20 (NPS 30) then 40/30/30 (NPS 10): Var = (.5+.2−.09)/100 + (.4+.3−.01)/100 = .013
    change = measures.nps_change((50, 30, 20), (40, 30, 30))
    assert change.difference == pytest.approx(-20.0)
    assert change.statistic == pytest.approx(-0.2 / math.sqrt(0.013))
    assert change.p_value == pytest.approx(0.0794, abs=5e-4)
    assert not change.significant
    assert change.low < -20 < change.high


@settings(max_examples=200, deadline=None)
@given(counts, counts, counts, counts, counts, counts)
def test_nps_change_properties(p1, s1, d1, p2, s2, d2):
    change = measures.nps_change((p1, s1, d1), (p2, s2, d2))
    if not (p1 + s1 + d1) or not (p2 + s2 + d2):
        assert change is None
        return
    back = measures.nps_change((p2, s2, d2), (p1, s1, d1))
    assert 0 <= change.p_value <= 1
    assert change.difference == pytest.approx(-back.difference)
    assert change.p_value == pytest.approx(back.p_value)
    assert -200 <= change.low <= change.high <= 200
    same = measures.nps_change((p1, s1, d1), (p1, s1, d1))
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)


def test_nps_change_grows_more_significant_with_more_promoters():
    p_values = [
        measures.nps_change((30, 40, 30), (30 + k, 40 - k, 30)).p_value for k in range(0, 40, 5)
    ]
    assert p_values == sorted(p_values, reverse=True)


def test_two_proportion_textbook():
    # 45/100 against 60/100: pooled 0.525, z = 0.15 / √(.525·.475·.02) = 2.124, p = 0.0337
    change = measures.proportion_change((45, 100), (60, 100))
    assert change.statistic == pytest.approx(2.1239, abs=1e-3)
    assert change.p_value == pytest.approx(0.0337, abs=5e-4)
    assert change.significant


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 300), st.integers(1, 300), st.integers(0, 300), st.integers(1, 300))
def test_two_proportion_properties(x1, n1, x2, n2):
    x1, x2 = min(x1, n1), min(x2, n2)
    change = measures.proportion_change((x1, n1), (x2, n2))
    assert 0 <= change.p_value <= 1
    assert -1 <= change.low <= change.difference <= change.high <= 1


def test_welch_against_scipy():
    a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    change = measures.mean_change(
        (len(a), sum(a), sum(v * v for v in a)), (len(b), sum(b), sum(v * v for v in b))
    )
    reference = sps.ttest_ind(b, a, equal_var=False)
    assert change.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert change.df == pytest.approx(24.9885, abs=1e-3)  # Welch (1947) example data
    # Whole degrees of freedom (24) make our p a little larger, never smaller.
    assert reference.pvalue <= change.p_value <= reference.pvalue * 1.05
    assert change.significant


def test_change_between_picks_the_test():
    first = {"n": 100, "a": 45, "b": 0, "c": 0, "total": 0.0, "squares": 0.0}
    second = {"n": 100, "a": 60, "b": 0, "c": 0, "total": 0.0, "squares": 0.0}
    assert measures.change_between("csat", first, second).test == "two_proportion_z"
    assert measures.change_between("tier.engaged", first, second).test == "two_proportion_z"
    nps = {"n": 100, "a": 50, "b": 30, "c": 20, "total": 0.0, "squares": 0.0}
    assert measures.change_between("nps", nps, nps).test == "nps_z"
    mean = {"n": 3, "a": 0, "b": 0, "c": 0, "total": 6.0, "squares": 14.0}
    assert measures.change_between("ces", mean, mean).test == "welch_t"
    with pytest.raises(ValueError):
        measures.kind_of("bogus")


def test_tier_mix_shares_add_up():
    mix = measures.tier_mix(
        pl.Series(["engaged", "engaged", "indifferent", "", None, "fully_engaged"])
    )
    assert sum(i.estimate for i in mix.values()) == pytest.approx(1.0)
    assert mix["engaged"].n == 4 and mix["engaged"].estimate == 0.5


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 100_000))
def test_t_quantile_from_scipy_equals_the_survey_statistics(df):
    assert measures._t975(df) == pytest.approx(stats.t_quantile(0.975, df), abs=1e-9)
