"""Property tests: bounds and monotonicity of P(alive), expected purchases, RFM and tiers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.insights import clv, rfm

params_strategy = st.builds(
    lambda r, alpha, a, b: clv.BgNbdParams(r, alpha, a, b, 0.0, 0),
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.5, 50.0),
    a=st.floats(0.1, 5.0),
    b=st.floats(0.1, 10.0),
)


@st.composite
def customers(draw):
    """A (x, t_x, T) history a real customer could have."""
    big_t = draw(st.floats(0.5, 200.0))
    x = draw(st.integers(0, 60))
    t_x = 0.0 if x == 0 else draw(st.floats(0.0, big_t))
    return x, t_x, big_t


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(params_strategy, customers())
def test_probability_alive_is_a_probability(params, customer):
    alive = float(clv.probability_alive(params, *customer))
    assert 0.0 <= alive <= 1.0
    if customer[0] == 0:
        assert alive == 1.0


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(params_strategy, st.integers(1, 60), st.floats(0.5, 200.0), st.floats(0, 1), st.floats(0, 1))
def test_probability_alive_rises_with_recency(params, x, big_t, u, v):
    earlier, later = sorted((u * big_t, v * big_t))
    p_earlier, p_later = clv.probability_alive(params, [x, x], [earlier, later], [big_t, big_t])
    assert p_later >= p_earlier


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(params_strategy, st.floats(0.0, 300.0), st.floats(0.0, 300.0))
def test_expected_purchases_non_negative_and_increasing_in_t(params, t1, t2):
    short, long = sorted((t1, t2))
    e_short, e_long = clv.expected_purchases(params, np.array([short, long]))
    assert e_short >= 0.0
    assert e_long >= e_short - 1e-9 * max(1.0, e_long)


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(params_strategy, customers(), st.floats(0.0, 200.0), st.floats(0.0, 200.0))
def test_conditional_expected_purchases_non_negative_and_increasing_in_t(params, customer, t1, t2):
    short, long = sorted((t1, t2))
    e_short = float(clv.conditional_expected_purchases(params, short, *customer))
    e_long = float(clv.conditional_expected_purchases(params, long, *customer))
    assert e_short >= 0.0
    assert e_long >= e_short - 1e-9 * max(1.0, e_long)


def test_expected_purchases_is_continuous_through_a_equal_one():
    """The (a−1) denominators have a removable singularity at a = 1."""
    values = [
        float(clv.expected_purchases(clv.BgNbdParams(0.5, 5.0, a, 2.0, 0, 0), 30.0))
        for a in (0.999, 1.0, 1.001)
    ]
    assert np.isfinite(values).all()
    assert abs(values[1] - values[0]) < 1e-2 and abs(values[2] - values[1]) < 1e-2


values_strategy = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300)


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(values_strategy)
def test_quintile_scores_are_1_to_5_monotone_and_tie_consistent(values):
    arr = np.array(values)
    scores = rfm.quintile_scores(arr)
    assert scores.min() >= 1 and scores.max() <= 5
    order = np.argsort(arr, kind="stable")
    assert (np.diff(scores[order]) >= 0).all()
    for value in np.unique(arr):
        assert np.unique(scores[arr == value]).size == 1


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(st.lists(st.tuples(st.floats(0, 3650), st.integers(1, 500), st.floats(0, 1e6)), min_size=1))
def test_rfm_scores_are_1_to_5(rows):
    days, count, spend = (np.array(col) for col in zip(*rows, strict=True))
    scores = rfm.rfm_scores(days, count, spend)
    for dimension in (scores.recency, scores.frequency, scores.monetary):
        assert dimension.min() >= 1 and dimension.max() <= 5
    # Fewer days since the last purchase never scores lower.
    order = np.argsort(-days, kind="stable")
    assert (np.diff(scores.recency[order]) >= 0).all()


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(values_strategy)
def test_more_value_never_means_a_lower_tier(values):
    arr = np.array(values)
    tiers = rfm.value_tiers(arr)
    rank = {name: i for i, (name, _) in enumerate(rfm.VALUE_TIERS)}  # 0 = best
    tier_rank = np.array([rank[t] for t in tiers])
    order = np.argsort(arr, kind="stable")
    assert (np.diff(tier_rank[order]) <= 0).all()
    if np.unique(arr).size == arr.size >= 5:
        assert tiers[np.argmax(arr)] == "platinum"
        assert np.mean(tiers == "platinum") <= 0.2
