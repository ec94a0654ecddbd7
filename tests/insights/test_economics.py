"""What +5 points of retention is worth: the formula, its inputs from data, its properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.insights import economics


def test_textbook_customer_value():
    # m = 100 a year, r = 80%, d = 10%: 100 × 1.1 / 0.3 = 366.67; at 85%: 100 × 1.1 / 0.25 = 440
    assert economics.customer_value(100, 0.8, 0.1) == pytest.approx(366.6667, abs=1e-3)
    what_if = economics.retention_what_if(economics.EconomicsInputs(0.8, 100.0, 1000), 5)
    assert what_if.value_per_customer_after == pytest.approx(440.0)
    assert what_if.profit_change == pytest.approx(0.2)
    assert what_if.worth == pytest.approx(1000 * (440 - 366.6667), abs=1)
    assert what_if.as_dict()["reichheld_quote"] == [0.25, 0.85]


@given(st.floats(0, 0.9), st.floats(0.1, 0.9), st.floats(1, 1e4))
def test_more_retention_is_worth_more(r1, r2, margin):
    low, high = sorted((r1, r2))
    assert economics.customer_value(margin, low, 0.1) <= economics.customer_value(margin, high, 0.1)
    change = economics.retention_what_if(economics.EconomicsInputs(low, margin, 10), 5)
    assert change.worth >= 0 and change.profit_change >= 0


def test_retention_is_capped_below_one():
    change = economics.retention_what_if(economics.EconomicsInputs(0.97, 100.0, 1), 5)
    assert change.value_per_customer_after == pytest.approx(100 * 1.1 / (1.1 - 0.99))
    with pytest.raises(ValueError):
        economics.customer_value(100, 1.5, 0.1)


def test_observed_inputs():
    before = np.array([True, True, True, False])
    recent = np.array([True, False, True, True])
    profit = np.array([10.0, 0.0, 20.0, 30.0])
    inputs = economics.observed_inputs(before, recent, profit)
    assert inputs.retention_rate == pytest.approx(2 / 3)
    assert inputs.annual_margin == pytest.approx(20.0)
    assert inputs.active_customers == 3
