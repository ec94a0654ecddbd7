"""RFM scores, profit contribution and value tiers: pure functions over per-customer arrays.

RFM (recency, frequency, monetary) scores each customer 1–5 on each dimension by quintile of the
customer base, 5 being best (most recent, most frequent, highest spend). Customers with equal
values always get equal scores, so a quintile can hold more or fewer than 20% of customers when
many values tie (e.g. most customers bought once).

Value tiers rank customers by lifetime value (or any value measure) so the most valuable are
served best (R6): the top 20% are platinum, the next 30% gold, the next 30% silver and the
bottom 20% bronze. A customer's tier depends on the share of customers worth at least as much as
them (themselves included), so ties share a tier — the lower one: when most customers are worth
nothing yet, they are all bronze, not platinum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

# (tier, share of customers in it), best first; the shares add up to 1.
VALUE_TIERS: tuple[tuple[str, float], ...] = (
    ("platinum", 0.20),
    ("gold", 0.30),
    ("silver", 0.30),
    ("bronze", 0.20),
)


@dataclass(frozen=True)
class RfmScores:
    """Per-customer scores 1–5, in the order of the input arrays."""

    recency: NDArray[np.int8]
    frequency: NDArray[np.int8]
    monetary: NDArray[np.int8]

    @property
    def codes(self) -> NDArray[np.str_]:
        """The usual three-digit RFM cell, e.g. "545"."""
        return np.char.add(
            np.char.add(self.recency.astype(str), self.frequency.astype(str)),
            self.monetary.astype(str),
        )


def quintile_scores(values: ArrayLike) -> NDArray[np.int8]:
    """Score 1–5 by quintile, higher values scoring higher; ties share the lower score."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int8)
    if np.isnan(arr).any():
        raise ValueError("cannot score missing (NaN) values")
    below = rankdata(arr, method="min") - 1  # customers with a strictly lower value
    return (1 + np.floor(5 * below / arr.size)).astype(np.int8)


def rfm_scores(
    days_since_last: ArrayLike, purchase_count: ArrayLike, total_spend: ArrayLike
) -> RfmScores:
    """RFM quintile scores; fewer days since the last purchase is the better recency."""
    return RfmScores(
        recency=quintile_scores(-np.asarray(days_since_last, dtype=np.float64)),
        frequency=quintile_scores(purchase_count),
        monetary=quintile_scores(total_spend),
    )


def profit_contribution(
    customer_index: ArrayLike,
    amount: ArrayLike,
    margin: ArrayLike,
    n_customers: int,
    default_margin_rate: float,
) -> NDArray[np.float64]:
    """Per-customer profit from touchpoints: the recorded margin, else amount × default rate.

    `customer_index` gives each touchpoint's customer as 0..n_customers−1; missing margins and
    amounts are NaN. Touchpoints with neither contribute nothing.
    """
    idx = np.asarray(customer_index, dtype=np.int64)
    amt = np.asarray(amount, dtype=np.float64)
    mrg = np.asarray(margin, dtype=np.float64)
    profit = np.where(np.isnan(mrg), amt * default_margin_rate, mrg)
    profit = np.nan_to_num(profit, nan=0.0)
    return np.bincount(idx, weights=profit, minlength=n_customers)


def value_tiers(value: ArrayLike) -> NDArray[np.str_]:
    """Tier name per customer (VALUE_TIERS) by the share of customers worth at least as much."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        return np.array([], dtype="<U8")
    if np.isnan(arr).any():
        raise ValueError("cannot tier missing (NaN) values")
    at_least = arr.size - rankdata(arr, method="min") + 1  # customers worth as much or more
    share = at_least / arr.size
    bounds = np.round(np.cumsum([share for _, share in VALUE_TIERS]), 9)
    names = np.array([name for name, _ in VALUE_TIERS])
    position = np.searchsorted(bounds, share, side="left")
    return names[np.minimum(position, len(names) - 1)]
