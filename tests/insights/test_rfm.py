"""RFM scores, profit contribution and value tiers on textbook cases."""

from __future__ import annotations

import numpy as np
import pytest

from rapport.insights import rfm


def test_quintiles_of_ten_distinct_values():
    assert rfm.quintile_scores(np.arange(10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_ties_share_the_lower_score():
    # Six of ten customers bought once: all of them score 1, however many that is.
    scores = rfm.quintile_scores([1, 1, 1, 1, 1, 1, 2, 3, 4, 5])
    assert scores.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_rfm_codes_and_recency_direction():
    scores = rfm.rfm_scores(
        days_since_last=[1, 400, 30, 90, 200],
        purchase_count=[9, 1, 4, 2, 3],
        total_spend=[900.0, 10.0, 200.0, 50.0, 100.0],
    )
    assert scores.recency.tolist() == [5, 1, 4, 3, 2]
    assert scores.codes.tolist() == ["555", "111", "444", "322", "233"]


def test_missing_values_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        rfm.quintile_scores([1.0, np.nan])
    with pytest.raises(ValueError, match="NaN"):
        rfm.value_tiers([1.0, np.nan])


def test_profit_contribution_uses_margin_else_default_rate():
    profit = rfm.profit_contribution(
        customer_index=[0, 0, 1, 2, 2],
        amount=[100.0, 50.0, 80.0, np.nan, 10.0],
        margin=[30.0, np.nan, np.nan, 5.0, np.nan],
        n_customers=4,
        default_margin_rate=0.2,
    )
    assert profit.tolist() == pytest.approx([30.0 + 10.0, 16.0, 5.0 + 2.0, 0.0])


def test_value_tier_shares_on_distinct_values():
    tiers = rfm.value_tiers(np.arange(100.0))
    names, counts = np.unique(tiers, return_counts=True)
    assert dict(zip(names.tolist(), counts.tolist(), strict=True)) == {
        "platinum": 20,
        "gold": 30,
        "silver": 30,
        "bronze": 20,
    }
    assert tiers[99] == "platinum" and tiers[0] == "bronze"


def test_tied_values_share_a_tier():
    tiers = rfm.value_tiers([0.0] * 90 + [50.0] * 10)
    assert set(tiers[:90]) == {"bronze"}
    assert set(tiers[90:]) == {"platinum"}
    assert set(rfm.value_tiers([7.0] * 5)) == {"bronze"}  # nobody stands out
    assert rfm.value_tiers([]).size == 0
