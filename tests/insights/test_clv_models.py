"""BG/NBD and Gamma-Gamma: parameter recovery from simulated customers, gradients, invariances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from rapport.insights import clv

TRUE = clv.BgNbdParams(r=0.5, alpha=6.0, a=0.9, b=3.0, loglik=0.0, customers=0)


@pytest.fixture(scope="module")
def simulated() -> clv.SimulatedCustomers:
    return clv.simulate_bgnbd(
        TRUE,
        200_000,
        np.random.default_rng(7),
        calibration_days=546,
        acquisition_days=84,
        days_per_unit=7.0,
    )


def test_bgnbd_recovers_known_parameters(simulated):
    fitted = clv.fit_bgnbd(simulated.frequency, simulated.recency, simulated.T)
    assert fitted.customers == 200_000
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUE, name), rel=0.03), name


def test_gamma_gamma_recovers_known_parameters():
    rng = np.random.default_rng(11)
    p, q, v = 4.0, 3.0, 20.0
    n = 50_000
    x = rng.integers(1, 10, size=n)
    nu = rng.gamma(q, 1.0 / v, size=n)  # each customer's rate of spend
    mean_spend = rng.gamma(p * x, 1.0 / (nu * x))  # the mean of x Gamma(p, nu) spends
    fitted = clv.fit_gamma_gamma(x, mean_spend)
    assert fitted.customers == n
    assert fitted.p == pytest.approx(p, rel=0.05)
    assert fitted.q == pytest.approx(q, rel=0.05)
    assert fitted.v == pytest.approx(v, rel=0.08)
    assert fitted.mean_spend == pytest.approx(p * v / (q - 1), rel=0.05)


def test_bgnbd_gradient_is_the_derivative(cdnow_summary):
    s = cdnow_summary
    likelihood = clv._BgNbdLikelihood(clv.aggregate_customers(s["x"], s["t_x"], s["T"]))
    for point in ([0.3, 4.0, 0.9, 2.0], [1.5, 0.7, 2.5, 0.4]):
        params = np.array(point)
        _, analytic = likelihood.value_and_gradient(params)
        numeric = approx_fprime(params, lambda q: likelihood.value_and_gradient(q)[0], 1e-7)
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_gamma_gamma_gradient_is_the_derivative(cdnow_summary):
    s = cdnow_summary
    repeat = s["x"] > 0
    x, m = s["x"][repeat], s["m"][repeat]
    likelihood = clv._GammaGammaLikelihood(x, m)
    params = np.array([5.0, 3.0, 14.0])
    _, analytic = likelihood.value_and_gradient(params)
    numeric = approx_fprime(params, lambda q: likelihood.value_and_gradient(q)[0], 1e-7)
    assert analytic == pytest.approx(numeric, rel=1e-4)


def test_aggregating_customers_changes_nothing(cdnow_summary):
    s = cdnow_summary
    agg = clv.aggregate_customers(s["x"], s["t_x"], s["T"])
    assert agg.weight.sum() == 2357
    assert agg.frequency.size < 2357
    direct = clv.fit_bgnbd(s["x"], s["t_x"], s["T"])
    weighted = clv.fit_bgnbd(agg.frequency, agg.recency, agg.T, agg.weight)
    assert weighted.loglik == pytest.approx(direct.loglik, rel=1e-10)
    assert weighted.alpha == pytest.approx(direct.alpha, rel=1e-6)
    assert weighted.customers == direct.customers


def test_time_unit_only_rescales_alpha_and_loglik(cdnow_summary):
    s = cdnow_summary
    weeks = clv.fit_bgnbd(s["x"], s["t_x"], s["T"])
    days = clv.fit_bgnbd(s["x"], s["t_x"] * 7, s["T"] * 7)
    assert days.r == pytest.approx(weeks.r, rel=1e-5)
    assert days.a == pytest.approx(weeks.a, rel=1e-5)
    assert days.b == pytest.approx(weeks.b, rel=1e-5)
    assert days.alpha == pytest.approx(7 * weeks.alpha, rel=1e-5)
    # Each customer's likelihood gains a factor 7^-x when time is counted in days.
    assert days.loglik == pytest.approx(weeks.loglik - np.log(7) * s["x"].sum(), rel=1e-8)


def test_loglik_at_the_estimates_is_the_reported_one(cdnow_summary):
    s = cdnow_summary
    fitted = clv.fit_bgnbd(s["x"], s["t_x"], s["T"])
    assert clv.bgnbd_loglik(fitted, s["x"], s["t_x"], s["T"]) == pytest.approx(fitted.loglik)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([], [], [], "no customers"),
        ([1.5, 0], [1, 0], [2, 2], "whole number"),
        ([1, 0], [3, 0], [2, 2], "between 0 and T"),
        ([0, 1], [1, 1], [2, 2], "recency 0"),
        ([1], [1], [2], "only one customer"),
        ([0, 0, 0], [0, 0, 0], [1, 2, 3], "no customer made a repeat purchase"),
        ([2, 2], [10, 10], [10, 10], "did not converge"),
    ],
)
def test_unfittable_customers_are_refused(x, t_x, T, message):
    with pytest.raises(clv.FitError, match=message):
        clv.fit_bgnbd(x, t_x, T)


def test_gamma_gamma_needs_repeat_customers_with_spend():
    with pytest.raises(clv.FitError, match="Gamma-Gamma spend model cannot be fitted"):
        clv.fit_gamma_gamma([0, 0, 1], [0.0, 0.0, -5.0])


def test_lifetime_value_discounts_and_scales_with_margin(cdnow_summary):
    s = cdnow_summary
    models = clv.fit_value_models(s["x"], s["t_x"], s["T"], s["m"])
    args = (models.bgnbd, models.gamma_gamma, s["x"], s["t_x"], s["T"], s["m"])
    revenue = clv.customer_lifetime_value(*args, days_per_unit=7.0)
    undiscounted = clv.customer_lifetime_value(
        *args, days_per_unit=7.0, terms=clv.LifetimeValueTerms(annual_discount_rate=0.0)
    )
    profit = clv.customer_lifetime_value(
        *args, days_per_unit=7.0, terms=clv.LifetimeValueTerms(margin=0.3)
    )
    assert (revenue >= 0).all()
    assert (undiscounted >= revenue).all()
    assert profit == pytest.approx(0.3 * revenue)
    # Undiscounted, it is expected purchases in a year times expected spend.
    year = 12 * (365.25 / 12) / 7
    expected = clv.conditional_expected_purchases(
        models.bgnbd, year, s["x"], s["t_x"], s["T"]
    ) * clv.conditional_expected_spend(models.gamma_gamma, s["x"], s["m"])
    assert undiscounted == pytest.approx(expected, rel=1e-9)


def _clockwork_customers(n: int = 20_000, seed: int = 11):
    """Customers who buy every 8–10 weeks like clockwork; 30% stop at some point.

    Purchases this regular are less dispersed than a Poisson process, so the gamma spread of
    purchase rates runs off to infinity (r and alpha together): the shape of service-visit data.
    """
    rng = np.random.default_rng(seed)
    big_t = rng.uniform(52, 104, n)
    gap = rng.uniform(8.0, 10.0, n)
    stop = np.where(rng.random(n) < 0.3, rng.uniform(0, big_t), big_t)
    x = np.floor(stop / gap)
    return x, x * gap, big_t, gap


def test_clockwork_purchases_fit_with_the_rate_spread_held_at_its_cap():
    x, tx, big_t, gap = _clockwork_customers()
    fitted = clv.fit_bgnbd(x, tx, big_t)
    assert "r" in fitted.at_cap and fitted.r == pytest.approx(clv._SPREAD_CAP)
    # The location stays identified: the mean rate within 15% of the true one (the model counts
    # a regular gap cut by the window end as a slower rate), a small dropout chance.
    assert fitted.r / fitted.alpha == pytest.approx(np.mean(1 / gap), rel=0.15)
    assert 0.01 < fitted.a / (fitted.a + fitted.b) < 0.1
    # Predictions are finite and sensible: an active regular customer makes about 52/9 visits
    # a year, and P(alive) is in [0, 1].
    year = clv.expected_purchases(fitted, 52.0)
    assert 3.5 < float(year) < 6.5
    alive = clv.probability_alive(fitted, x, tx, big_t)
    assert np.isfinite(alive).all() and ((alive >= 0) & (alive <= 1)).all()


def test_same_spend_level_for_everyone_fits_with_a_large_q():
    x, _tx, _t, _gap = _clockwork_customers()
    x = np.maximum(x, 1)
    rng = np.random.default_rng(3)
    mean_spend = rng.gamma(4 * x, 25.0 / x)  # every purchase ~ Gamma(4, 25): mean 100
    fitted = clv.fit_gamma_gamma(x, mean_spend)
    # No spread of spend levels: q runs towards its cap (the fit converges either way).
    assert fitted.q > 100 and fitted.at_cap in ((), ("q",))
    assert fitted.mean_spend == pytest.approx(100, rel=0.02)
    assert fitted.p == pytest.approx(4, rel=0.1)


def test_the_note_says_what_was_held_and_why():
    x, tx, big_t, _gap = _clockwork_customers(5_000)
    models = clv.ValueModels(clv.fit_bgnbd(x, tx, big_t), clv.GammaGammaParams(1, 2, 3, 0.0, 1))
    assert "purchase rates hardly differ" in models.note and "10,000" in models.note
    assert clv.spread_note(()) == ""
