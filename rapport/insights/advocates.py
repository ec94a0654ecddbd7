"""Advocates: promoters, and customers whose referrals are recorded, with what they brought.

A `referral` touchpoint belongs to the customer who referred; its context `referred_customer`
names the friend (an external id in any source system, or a Rapport customer id), resolved to a
customer before this module sees it. A friend referred by several customers counts for the
first referral only (the earliest), so the brought value is never counted twice. Value brought
is the friends' lifetime value (and profit contribution) as computed for everyone else.

Seed 002 says 60% of new customers come from referrals: `referral_share` measures ours — among
customers whose first visit falls in the window, the share that someone referred, with a Wilson
interval.
"""

from __future__ import annotations

import polars as pl

from rapport.surveys import stats


def first_referrals(referrals: pl.DataFrame) -> pl.DataFrame:
    """(referred, referred_by) for each resolved friend: the earliest referral wins.

    `referrals`: columns customer (the referrer), referred (customer id or null), day.
    A customer cannot refer themselves.
    """
    return (
        referrals.filter(
            pl.col("referred").is_not_null() & (pl.col("referred") != pl.col("customer"))
        )
        .sort("day", "customer")
        .group_by("referred", maintain_order=True)
        .agg(pl.col("customer").first().alias("referred_by"))
    )


def referrer_totals(referrals: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """Per referrer: referrals recorded, customers brought (first referrals), and their value.

    `values`: customer, clv, profit. Returns customer, referrals, referred_customers,
    referred_value, referred_profit.
    """
    recorded = referrals.group_by("customer").agg(pl.len().cast(pl.Int64).alias("referrals"))
    brought = (
        first_referrals(referrals)
        .join(values, left_on="referred", right_on="customer", how="left")
        .group_by("referred_by")
        .agg(
            pl.len().cast(pl.Int64).alias("referred_customers"),
            pl.col("clv").fill_null(0.0).sum().alias("referred_value"),
            pl.col("profit").fill_null(0.0).sum().alias("referred_profit"),
        )
        .rename({"referred_by": "customer"})
    )
    return recorded.join(brought, on="customer", how="full", coalesce=True).with_columns(
        pl.col("referrals").fill_null(0),
        pl.col("referred_customers").fill_null(0),
        pl.col("referred_value").fill_null(0.0),
        pl.col("referred_profit").fill_null(0.0),
    )


def referral_share(
    first_visit_day: pl.DataFrame, referred: pl.Series, start_day: int, end_day: int
) -> stats.Interval | None:
    """Share of customers new in [start_day, end_day] (by first visit) that were referred.

    `first_visit_day`: customer, first_day; `referred`: ids of referred customers.
    """
    new = first_visit_day.filter(pl.col("first_day").is_between(start_day, end_day))
    hits = int(new["customer"].is_in(referred.implode()).sum()) if new.height else 0
    return stats.wilson_interval(hits, new.height)
