"""The CDNOW reproduction: Fader, Hardie & Lee (2005) and Fader & Hardie's Gamma-Gamma note."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from rapport.insights import clv
from rapport.insights.transactions import read_transactions, summarise_customers

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOGLIK = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def sig3(value: float) -> float:
    return float(f"{value:.3g}")


def assert_published(bg: clv.BgNbdParams, gg: clv.GammaGammaParams) -> None:
    for name, published in PUBLISHED_BGNBD.items():
        assert sig3(getattr(bg, name)) == sig3(published), name
    assert bg.loglik == pytest.approx(PUBLISHED_LOGLIK, abs=0.05)
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert sig3(getattr(gg, name)) == sig3(published), name


def test_summary_file_reproduces_published_estimates(cdnow_summary):
    s = cdnow_summary
    models = clv.fit_value_models(s["x"], s["t_x"], s["T"], s["m"])
    assert models.bgnbd.customers == 2357
    assert models.gamma_gamma.customers == 946
    assert_published(models.bgnbd, models.gamma_gamma)


def test_raw_transactions_through_our_reader_reproduce_published_estimates(
    cdnow_transactions_csv,
):
    frame = read_transactions(cdnow_transactions_csv, "customer", "date", "amount")
    summary = summarise_customers(frame, dt.date(1997, 9, 30), clv.DAYS_PER_UNIT["week"])
    assert summary.customers == 2357
    assert summary.repeat_customers == 946
    assert summary.excluded_after_calibration == 0
    models = clv.fit_value_models(summary.frequency, summary.recency, summary.T, summary.monetary)
    assert_published(models.bgnbd, models.gamma_gamma)


def test_raw_summary_matches_published_summary(cdnow_transactions_csv, cdnow_summary):
    """Our reader's x, t_x, T and mean repeat spend equal the published cohort's (2 decimals)."""
    frame = read_transactions(cdnow_transactions_csv, "customer", "date", "amount")
    summary = summarise_customers(frame, dt.date(1997, 9, 30), 7.0)
    assert np.array_equal(summary.frequency, cdnow_summary["x"])
    assert np.allclose(summary.recency, cdnow_summary["t_x"], atol=0.005 + 1e-9)
    assert np.allclose(summary.T, cdnow_summary["T"], atol=0.005 + 1e-9)
    assert np.allclose(summary.monetary, cdnow_summary["m"], atol=0.005 + 1e-9)


def test_published_prediction_for_a_customer():
    """The paper's worked example: x=2, t_x=30.43, T=38.86 expects 1.226 purchases in 39 weeks."""
    params = clv.BgNbdParams(0.243, 4.414, 0.793, 2.426, 0.0, 0)
    expected = clv.conditional_expected_purchases(params, 39, 2, 30.43, 38.86)
    assert float(expected) == pytest.approx(1.226, abs=0.0005)


def test_predictions_match_lifetimes(cdnow_summary):
    with warnings.catch_warnings():  # lifetimes sets a pandas option pandas 3 deprecates
        warnings.simplefilter("ignore")
        lifetimes = pytest.importorskip("lifetimes")
    s = cdnow_summary
    bg = clv.fit_bgnbd(s["x"], s["t_x"], s["T"])
    gg = clv.fit_gamma_gamma(s["x"], s["m"])
    theirs = lifetimes.BetaGeoFitter()
    theirs.params_ = {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b}
    for t in (1.0, 10.0, 39.0, 78.0):
        assert clv.expected_purchases(bg, t) == pytest.approx(
            theirs.expected_number_of_purchases_up_to_time(t), rel=1e-9
        )
        assert clv.conditional_expected_purchases(bg, t, s["x"], s["t_x"], s["T"]) == pytest.approx(
            np.asarray(
                theirs.conditional_expected_number_of_purchases_up_to_time(
                    t, s["x"], s["t_x"], s["T"]
                )
            ),
            rel=1e-9,
        )
    assert clv.probability_alive(bg, s["x"], s["t_x"], s["T"]) == pytest.approx(
        np.asarray(theirs.conditional_probability_alive(s["x"], s["t_x"], s["T"])), rel=1e-9
    )
    their_gg = lifetimes.GammaGammaFitter()
    their_gg.params_ = {"p": gg.p, "q": gg.q, "v": gg.v}
    repeat = s["x"] > 0
    assert clv.conditional_expected_spend(gg, s["x"][repeat], s["m"][repeat]) == pytest.approx(
        np.asarray(their_gg.conditional_expected_average_profit(s["x"][repeat], s["m"][repeat])),
        rel=1e-9,
    )


def test_iteration_limit_is_reported_as_non_convergence(cdnow_summary):
    s = cdnow_summary
    with pytest.raises(clv.FitError, match="BG/NBD fit did not converge"):
        clv.fit_bgnbd(s["x"], s["t_x"], s["T"], max_iterations=2)
    with pytest.raises(clv.FitError, match="Gamma-Gamma fit did not converge"):
        clv.fit_gamma_gamma(s["x"], s["m"], max_iterations=2)
