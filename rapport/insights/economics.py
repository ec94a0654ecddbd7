"""What a change in retention is worth, from our own customers' figures, assumptions in view.

Seed 002 quotes Reichheld: +5 points of retention → +25–85% profit. We compute our own figure
with the textbook customer-value formula for a constant yearly margin m, yearly retention r and
discount rate d, the margin earned at the start of each year (Gupta & Lehmann 2003):

    value per customer = m × (1 + d) / (1 + d − r)

and a change of δ points multiplies it by (1 + d − r) / (1 + d − r − δ). The inputs come from
the data (rapport.insights.jobs measures them; every one is shown and can be overridden):

    r  of the customers who visited in the year before last, the share who visited again in
       the last year;
    m  mean profit contribution in the last year of the customers who visited in it;
    N  customers who visited in the last year;
    d  10% a year, the same rate the lifetime values use (clv.LifetimeValueTerms).

The formula assumes the margin and the retention rate stay as they are and that retention is the
same for every customer; it ignores acquisition; the lifetime-value models (BG/NBD) give the
per-customer view, this calculator the what-if.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

REICHHELD_QUOTE = (0.25, 0.85)  # profit change quoted for +5 points of retention (seed 002)


@dataclass(frozen=True)
class EconomicsInputs:
    retention_rate: float  # r, 0–1, per year
    annual_margin: float  # m, profit per active customer per year
    active_customers: int  # N
    discount_rate: float = 0.10  # d, per year

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class RetentionWhatIf:
    inputs: EconomicsInputs
    change_points: float  # δ in points, e.g. 5
    value_per_customer: float
    value_per_customer_after: float
    profit_change: float  # relative change in customer value, e.g. 0.31 for +31%
    base_value: float  # N × value per customer
    worth: float  # N × (after − before)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["inputs"] = self.inputs.as_dict()
        out["reichheld_quote"] = list(REICHHELD_QUOTE)
        return out


def customer_value(margin: float, retention: float, discount: float) -> float:
    """m (1 + d) / (1 + d − r): the present value of a customer's yearly margins."""
    if not 0 <= retention < 1 + discount:
        raise ValueError("retention must be between 0 and 1")
    return margin * (1 + discount) / (1 + discount - retention)


def retention_what_if(inputs: EconomicsInputs, change_points: float = 5.0) -> RetentionWhatIf:
    """The worth of moving retention by `change_points` points (capped at 99% retention)."""
    r = inputs.retention_rate
    after_r = min(max(r + change_points / 100, 0.0), 0.99)
    before = customer_value(inputs.annual_margin, r, inputs.discount_rate)
    after = customer_value(inputs.annual_margin, after_r, inputs.discount_rate)
    return RetentionWhatIf(
        inputs=inputs,
        change_points=change_points,
        value_per_customer=before,
        value_per_customer_after=after,
        profit_change=(after / before - 1) if before else 0.0,
        base_value=inputs.active_customers * before,
        worth=inputs.active_customers * (after - before),
    )


def observed_inputs(
    last_visit_before: np.ndarray,
    visited_last_year: np.ndarray,
    profit_last_year: np.ndarray,
    discount_rate: float = 0.10,
) -> EconomicsInputs:
    """Inputs from per-customer arrays: visited in the year before last, in the last year, and
    profit contribution in the last year."""
    before = np.asarray(last_visit_before, dtype=bool)
    recent = np.asarray(visited_last_year, dtype=bool)
    profit = np.asarray(profit_last_year, dtype=np.float64)
    retention = float((before & recent).sum() / before.sum()) if before.any() else 0.0
    margin = float(profit[recent].mean()) if recent.any() else 0.0
    return EconomicsInputs(min(retention, 0.99), margin, int(recent.sum()), discount_rate)
