"""Response-rate intervals (Wilson) and lift (Newcombe): properties that must hold for any data,
and reference values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.feedback import stats


@st.composite
def counts(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(min_value=1, max_value=100_000))
    return draw(st.integers(min_value=0, max_value=n)), n


@given(counts())
def test_wilson_is_a_proper_interval_around_the_rate(c):
    k, n = c
    low, high = stats.wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(counts())
def test_more_data_at_the_same_rate_narrows_the_interval(c):
    k, n = c
    low, high = stats.wilson(k, n)
    low4, high4 = stats.wilson(4 * k, 4 * n)
    assert high4 - low4 < high - low + 1e-12


@given(counts(), counts())
def test_lift_interval_contains_the_difference_and_stays_in_bounds(a, b):
    lift = stats.lift(a[0], a[1], b[0], b[1])
    assert lift.difference is not None and lift.low is not None and lift.high is not None
    assert -1.0 <= lift.low <= lift.difference <= lift.high <= 1.0


@given(counts(), counts())
def test_swapping_the_groups_mirrors_the_lift(a, b):
    ab = stats.lift(a[0], a[1], b[0], b[1])
    ba = stats.lift(b[0], b[1], a[0], a[1])
    assert ab.difference == pytest.approx(-ba.difference)  # type: ignore[operator]
    assert ab.low == pytest.approx(-ba.high)  # type: ignore[operator]


def test_reference_values():
    # Newcombe (1998), table II: 81/263 → 0.2553–0.3662; difference 56/70 − 48/80: 0.0524–0.3339
    low, high = stats.wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    lift = stats.lift(56, 70, 48, 80)
    assert (round(lift.low, 4), round(lift.high, 4)) == (0.0524, 0.3339)  # type: ignore[arg-type]
    assert lift.significant


def test_empty_groups():
    assert stats.wilson(0, 0) == (0.0, 1.0)
    assert stats.rate(0, 0).rate is None
    assert stats.lift(1, 10, 0, 0).difference is None and not stats.lift(1, 10, 0, 0).significant
    with pytest.raises(ValueError):
        stats.wilson(5, 3)


@given(st.lists(st.integers(min_value=1, max_value=10**6), max_size=300, unique=True),
       st.floats(min_value=0, max_value=0.5), st.integers())  # fmt: skip
def test_the_control_draw_is_seeded_sized_and_order_free(ids, share, seed):
    drawn = stats.draw_control(ids, share, seed)
    assert drawn <= set(ids)
    assert len(drawn) == round(share * len(ids))
    assert stats.draw_control(list(reversed(ids)), share, seed) == drawn
