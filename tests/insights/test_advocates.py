"""Referrers and what they brought; the referral share of new customers."""

from __future__ import annotations

import polars as pl
import pytest

from rapport.insights import advocates

REFERRALS = pl.DataFrame(
    {
        "customer": [1, 2, 1, 3, 4, 5],
        "day": [10, 5, 20, 30, 40, 50],
        "referred": [10, 10, 11, None, 4, 12],  # 10 twice (2 was first), one unknown, a self
    },
    schema={"customer": pl.Int64, "day": pl.Int32, "referred": pl.Int64},
)
VALUES = pl.DataFrame(
    {"customer": [10, 11, 12], "clv": [100.0, 50.0, 7.0], "profit": [30.0, 10.0, 1.0]}
)


def test_first_referral_wins_and_self_referrals_do_not_count():
    first = advocates.first_referrals(REFERRALS).sort("referred")
    assert first.rows() == [(10, 2), (11, 1), (12, 5)]


def test_referrer_totals():
    totals = {
        r["customer"]: r for r in advocates.referrer_totals(REFERRALS, VALUES).iter_rows(named=True)
    }
    assert (totals[1]["referrals"], totals[1]["referred_customers"]) == (2, 1)
    assert totals[1]["referred_value"] == 50.0
    assert (totals[2]["referred_customers"], totals[2]["referred_value"]) == (1, 100.0)
    assert (totals[3]["referrals"], totals[3]["referred_customers"]) == (1, 0)
    assert totals[5]["referred_profit"] == 1.0


def test_referral_share_of_new_customers():
    first_visits = pl.DataFrame(
        {"customer": [10, 11, 12, 13, 14], "first_day": [5, 15, 25, 35, 400]}
    )
    share = advocates.referral_share(first_visits, pl.Series([10, 11, 14]), 0, 100)
    assert (share.n, share.estimate) == (4, pytest.approx(0.5))
    assert share.small_sample
    assert advocates.referral_share(first_visits, pl.Series([10]), 500, 600) is None
