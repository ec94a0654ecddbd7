"""Behavioural retention on each customer's own cadence, and the retention × loyalty matrix.

Retention is behaviour (004): did the customer come back when *they* would be expected to? A
visit is a distinct day with a purchase or service touchpoint. A customer's expected gap is the
median of the gaps between their visits once they have at least `min_visits` (3) visits, i.e.
two gaps; with fewer, it is the median of those expected gaps over every customer who has their
own (the base's typical cadence), and `default_gap_days` if nobody has three visits yet. With
d days since the last visit and expected gap g:

  retained   d ≤ overdue_factor × g            (1.5 by default)
  at risk    overdue_factor × g < d ≤ lost_factor × g   (3 by default)
  lost       d > lost_factor × g
  no visits  no purchase or service touchpoint at all

Loyalty is attitude: the latest engagement tier. The matrix crosses the two:

  advocate     retained, engaged or fully engaged
  locked in    retained, indifferent or actively disengaged — "keeps buying, feels nothing"
  at risk      at risk, whatever the tier;  lost: lost, whatever the tier
  unmeasured   retained, but no engagement answer yet

Lock-in flag, for the customers who return although nothing binds them emotionally: a *return*
(any visit after the first) is *prompted* when a loyalty-points, renewal or payment touchpoint
happened on the same day or up to `prompt_window_days` (14) before it. Events that come often
(monthly instalments) prompt many returns by chance, so the rule compares with chance: the
customer is flagged when they have at least `lock_in_min_returns` (2) returns, at least
`lock_in_min_share` (50%) of them prompted, and that share exceeds by `lock_in_excess` (25
points) the share of their time since the first visit that lies in such a window.

Plain polars over (customer, day) frames; days are whole local days numbered from any epoch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from rapport.surveys import scoring

RETAINED, AT_RISK, LOST, NO_VISITS = "retained", "at_risk", "lost", "no_visits"
ADVOCATE, LOCKED_IN, UNMEASURED = "advocate", "locked_in", "unmeasured"
ATTACHED_TIERS = (scoring.FULLY_ENGAGED, scoring.ENGAGED)
DETACHED_TIERS = (scoring.INDIFFERENT, scoring.ACTIVELY_DISENGAGED)
LOCK_IN_KINDS = ("loyalty_activity", "renewal", "payment")
VISIT_KINDS = ("purchase", "service_visit")


@dataclass(frozen=True)
class RetentionRule:
    """The documented thresholds; a deployment may pass its own."""

    overdue_factor: float = 1.5
    lost_factor: float = 3.0
    min_visits: int = 3
    default_gap_days: float = 120.0
    prompt_window_days: int = 14
    lock_in_min_returns: int = 2
    lock_in_min_share: float = 0.5
    lock_in_excess: float = 0.25

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def fallback_gap(cadence: pl.DataFrame, rule: RetentionRule) -> float:
    """The base's typical expected gap: median own gap of customers with `min_visits` visits."""
    own = cadence.filter(pl.col("visits") >= rule.min_visits)["own_gap"].drop_nulls()
    return float(own.median()) if own.len() else rule.default_gap_days


def visit_cadence(visits: pl.DataFrame, as_of_day: int) -> pl.DataFrame:
    """Per customer from (customer, day[, service]) visit rows: visits, first/last visit day,
    own median gap (null below two gaps) and service visits in the year up to as_of_day."""
    if "service" not in visits.columns:
        visits = visits.with_columns(pl.lit(True).alias("service"))
    days = (
        visits.group_by("customer", "day")
        .agg(pl.col("service").any())
        .sort("customer", "day")
        .with_columns((pl.col("day") - pl.col("day").shift(1).over("customer")).alias("gap"))
    )
    return days.group_by("customer").agg(
        pl.len().cast(pl.Int64).alias("visits"),
        pl.col("day").min().alias("first_day"),
        pl.col("day").max().alias("last_day"),
        pl.when(pl.col("gap").count() >= 2)
        .then(pl.col("gap").median())
        .otherwise(None)
        .cast(pl.Float64)
        .alias("own_gap"),
        (pl.col("service") & (pl.col("day") > as_of_day - 365))
        .sum()
        .cast(pl.Float64)
        .alias("visits_per_year"),
    )


def retention_states(
    cadence: pl.DataFrame, as_of_day: int, rule: RetentionRule, fallback: float
) -> pl.DataFrame:
    """Add expected_gap, gap_is_fallback, days_since and state to visit_cadence's frame."""
    expected = (
        pl.when(pl.col("visits") >= rule.min_visits)
        .then(pl.col("own_gap"))
        .otherwise(pl.lit(fallback))
    )
    since = pl.lit(as_of_day) - pl.col("last_day")
    return cadence.with_columns(
        expected.alias("expected_gap"),
        (pl.col("visits") < rule.min_visits).alias("gap_is_fallback"),
        since.alias("days_since"),
    ).with_columns(
        pl.when(pl.col("days_since") <= rule.overdue_factor * pl.col("expected_gap"))
        .then(pl.lit(RETAINED))
        .when(pl.col("days_since") <= rule.lost_factor * pl.col("expected_gap"))
        .then(pl.lit(AT_RISK))
        .otherwise(pl.lit(LOST))
        .alias("state")
    )


def lock_in(
    visits: pl.DataFrame, events: pl.DataFrame, as_of_day: int, rule: RetentionRule
) -> pl.DataFrame:
    """Per customer with returns: returns, prompted returns, chance coverage and the flag.

    `visits` and `events` are (customer, day) frames; see the module docstring for the rule.
    """
    window = rule.prompt_window_days
    days = visits.select("customer", "day").unique()
    first = days.group_by("customer").agg(pl.col("day").min().alias("first_day"))
    returns = days.join(first, on="customer").filter(pl.col("day") > pl.col("first_day"))
    ev = events.select("customer", pl.col("day").alias("event_day")).unique()
    ev = ev.sort("customer", "event_day")
    prompted = (
        returns.sort("customer", "day")
        .join_asof(
            ev,
            left_on="day",
            right_on="event_day",
            by="customer",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            ((pl.col("day") - pl.col("event_day")) <= window).fill_null(False).alias("prompted")
        )
        .group_by("customer")
        .agg(
            pl.len().cast(pl.Int64).alias("returns"),
            pl.col("prompted").sum().cast(pl.Int64).alias("prompted_returns"),
            pl.col("first_day").first(),
        )
    )
    # Share of [first visit, as_of] within `window` days after an event: each event covers up
    # to the next event, the window's end or as_of, whichever comes first.
    coverage = (
        ev.join(first, on="customer")
        .with_columns(pl.col("event_day").shift(-1).over("customer").alias("next_event"))
        .with_columns(
            (
                pl.min_horizontal(
                    pl.col("event_day") + window + 1,
                    pl.col("next_event").fill_null(as_of_day + 1),
                    pl.lit(as_of_day + 1),
                )
                - pl.max_horizontal(pl.col("event_day"), pl.col("first_day"))
            )
            .clip(lower_bound=0)
            .alias("covered")
        )
        .group_by("customer")
        .agg(pl.col("covered").sum())
    )
    out = prompted.join(coverage, on="customer", how="left").with_columns(
        (
            pl.col("covered").fill_null(0)
            / (pl.lit(as_of_day + 1) - pl.col("first_day")).clip(lower_bound=1)
        )
        .clip(upper_bound=1.0)
        .alias("chance_share"),
        (pl.col("prompted_returns") / pl.col("returns")).alias("prompted_share"),
    )
    return out.select(
        "customer",
        "returns",
        "prompted_returns",
        "chance_share",
        (
            (pl.col("returns") >= rule.lock_in_min_returns)
            & (pl.col("prompted_share") >= rule.lock_in_min_share)
            & (pl.col("prompted_share") >= pl.col("chance_share") + rule.lock_in_excess)
        ).alias("lock_in_flag"),
    )


def matrix_cell(state: pl.Expr, tier: pl.Expr) -> pl.Expr:
    """The retention × loyalty cell from a retention-state and an engagement-tier expression."""
    return (
        pl.when(state.is_null() | (state == NO_VISITS))
        .then(pl.lit(NO_VISITS))
        .when(state == LOST)
        .then(pl.lit(LOST))
        .when(state == AT_RISK)
        .then(pl.lit(AT_RISK))
        .when(tier.is_in(list(ATTACHED_TIERS)))
        .then(pl.lit(ADVOCATE))
        .when(tier.is_in(list(DETACHED_TIERS)))
        .then(pl.lit(LOCKED_IN))
        .otherwise(pl.lit(UNMEASURED))
    )
