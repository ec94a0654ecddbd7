"""Scoring by stored cut points reproduces RFM quintiles and value tiers on their own base."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.insights import facts, rfm

values = st.lists(st.integers(0, 20).map(float), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(values)
def test_rfm_cut_points_reproduce_quintiles(data):
    arr = np.array(data)
    scores = rfm.quintile_scores(arr)
    cuts = facts.cut_points(arr, scores, 5)
    assert (facts.score_by_cuts(arr, cuts) == scores).all()


@settings(max_examples=200, deadline=None)
@given(values, st.floats(-5, 25))
def test_new_values_score_monotonically(data, new):
    arr = np.array(data)
    cuts = facts.cut_points(arr, rfm.quintile_scores(arr), 5)
    lower, higher = facts.score_by_cuts(np.array([new, new + 1.0]), cuts)
    assert 1 <= lower <= higher <= 5


@settings(max_examples=200, deadline=None)
@given(values)
def test_tier_cut_points_reproduce_value_tiers(data):
    arr = np.array(data)
    tiers = rfm.value_tiers(arr)
    cuts = facts.tier_cuts_from(arr, tiers)
    assert (facts.tiers_by_cuts(arr, cuts) == tiers).all()


def test_calibration_round_trips_through_json():
    cal = facts.Calibration(bgnbd={"r": 1.0, "alpha": 2.0, "a": 0.5, "b": 1.5},
                            gamma_gamma={"p": 6.0, "q": 4.0, "v": 15.0})  # fmt: skip
    again = facts.Calibration.from_dict(cal.as_dict())
    assert again == cal
    models = again.value_models()
    assert models.bgnbd.alpha == 2.0 and models.gamma_gamma.v == 15.0
    assert facts.Calibration().value_models() is None
