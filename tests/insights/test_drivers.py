"""Driver analysis recovers planted effects, per context, and finds none where none were planted."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.insights import drivers


def synthetic(n, effects, seed, correlated=False, **extra):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    if correlated:
        x[:, 1] = 0.6 * x[:, 0] + 0.8 * x[:, 1]
    y = x @ np.array(effects) + rng.normal(size=n)
    data = {f"item{j}": x[:, j] for j in range(5)}
    return pl.DataFrame({"y": y, **data, **extra})


ITEMS = [f"item{j}" for j in range(5)]


@pytest.mark.parametrize("correlated", [False, True])
def test_recovers_planted_effects(correlated):
    data = synthetic(1500, [0.6, 0.3, 0.0, 0.0, 0.0], seed=7, correlated=correlated)
    model = drivers.fit_context(data, "y", ITEMS, bootstrap=100, seed=1)
    assert model.status == "ok"
    by_name = {w.driver: w for w in model.drivers}
    assert {w.driver for w in model.drivers if w.significant} == {"item0", "item1"}
    assert model.drivers[0].driver == "item0"
    assert sum(w.weight for w in model.drivers) == pytest.approx(model.r2)
    for name in ("item0", "item1"):
        assert by_name[name].low <= by_name[name].weight <= by_name[name].high
        assert by_name[name].low > 0.01
    for name in ("item2", "item3", "item4"):
        assert by_name[name].weight < 0.01


def test_reports_nothing_where_nothing_was_planted():
    """Over 60 data sets without effects, a driver is called significant in about 5% of them
    (the familywise error rate), never in most; the weights stay near zero."""
    false_alarms = 0
    for seed in range(60):
        data = synthetic(500, [0.0] * 5, seed=100 + seed)
        model = drivers.fit_context(data, "y", ITEMS, bootstrap=10, seed=seed)
        assert model.status == "ok"
        false_alarms += any(w.significant for w in model.drivers)
        assert model.r2 < 0.1
    assert false_alarms <= 6  # expected 3; P(> 6) < 5% for a 5% rate


def test_context_effects_lunch_speed_dinner_atmosphere():
    """Seed 004: the same restaurant is judged on speed at lunch and on atmosphere at dinner."""
    rng = np.random.default_rng(4)
    n = 1200
    speed, atmosphere = rng.normal(size=n), rng.normal(size=n)
    lunch = np.arange(n) % 2 == 0
    y = np.where(lunch, 0.7 * speed, 0.7 * atmosphere) + rng.normal(size=n)
    data = pl.DataFrame(
        {"y": y, "speed": speed, "atmosphere": atmosphere,
         "daypart": np.where(lunch, "lunch", "dinner")}
    )  # fmt: skip
    models = drivers.fit_by_context(data, "y", ["speed", "atmosphere"], ["daypart"], bootstrap=50)
    found = {
        (m.context_kind, m.context_value): {w.driver for w in m.drivers if w.significant}
        for m in models
    }
    assert found[("daypart", "lunch")] == {"speed"}
    assert found[("daypart", "dinner")] == {"atmosphere"}
    assert found[("all", "")] == {"speed", "atmosphere"}


def test_minimum_sample_is_enforced():
    data = synthetic(49, [1.0, 0, 0, 0, 0], seed=3)
    model = drivers.fit_context(data, "y", ITEMS)
    assert model.status == "too_few" and model.drivers == () and model.n == 49
    # Ten responses per driver: five drivers need 50, and 50 is enough.
    assert drivers.fit_context(synthetic(50, [1.0, 0, 0, 0, 0], seed=3), "y", ITEMS,
                               bootstrap=20).status == "ok"  # fmt: skip


def test_constant_or_missing_drivers_are_left_out():
    data = synthetic(300, [0.5, 0, 0, 0, 0], seed=5).with_columns(
        pl.lit(1.0).alias("constant"), pl.lit(None, dtype=pl.Float64).alias("empty")
    )
    model = drivers.fit_context(data, "y", [*ITEMS, "constant", "empty"], bootstrap=20)
    assert {w.driver for w in model.drivers} == set(ITEMS)
    assert drivers.fit_context(data, "y", ["constant"]).status == "no_drivers"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_relative_weights_add_up_to_r2(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, k)) @ rng.normal(size=(k, k))
    y = x @ rng.normal(size=k) + rng.normal(size=60)
    weights, r2 = drivers.relative_weights(x, y)
    design = np.column_stack([np.ones(60), x])
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    ols_r2 = 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))
    assert r2 == pytest.approx(ols_r2, abs=1e-6)
    assert (weights >= -1e-12).all()


def test_holm_adjustment():
    adjusted = drivers.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_contexts_from_local_time():
    frame = pl.DataFrame({"hour": [8, 12, 15, 19], "weekday": [1, 5, 6, 7]})
    got = frame.select(
        drivers.daypart(pl.col("hour")).alias("p"), drivers.day_type(pl.col("weekday")).alias("d")
    )
    assert got["p"].to_list() == ["morning", "lunch", "afternoon", "evening"]
    assert got["d"].to_list() == ["weekday", "weekday", "weekend", "weekend"]


def test_batched_bootstrap_equals_one_resample_at_a_time():
    rng = np.random.default_rng(1)
    n = 400
    x = np.round(rng.normal(size=(n, 3)) * 2) / 2
    x[:, 1] += 0.5 * x[:, 0]
    y = x @ [0.5, 0.2, 0.0] + rng.normal(size=n)
    batched = drivers.bootstrap_weights(x, y, 50, seed=7)
    draws = np.random.default_rng(7)
    for i in range(50):
        idx = draws.integers(0, n, n)
        one, _r2 = drivers.relative_weights(x[idx], y[idx])
        assert batched[i] == pytest.approx(one, abs=1e-10)


def test_a_resample_that_leaves_a_driver_constant_is_dropped():
    rng = np.random.default_rng(3)
    n = 20
    x = np.column_stack([np.r_[1.0, np.zeros(n - 1)], rng.normal(size=n)])
    y = rng.normal(size=n)
    batched = drivers.bootstrap_weights(x, y, 200, seed=0)
    draws = np.random.default_rng(0)
    constant = [bool((x[draws.integers(0, n, n)].std(axis=0) == 0).any()) for _ in range(200)]
    assert np.isnan(batched).any(axis=1).tolist() == constant
    assert any(constant)
