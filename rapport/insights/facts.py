"""Per-customer facts from columnar frames: behaviour, value, attitude, advocacy, matrix cell.

Plain polars/numpy, no database: rapport.insights.jobs loads the frames (rapport.insights.frames)
and writes the result into CustomerInsight. The same function serves the full run (everyone,
calibrating on them) and the incremental run (a few customers, on the last full run's
calibration), so both give a customer the same facts.

Calibration is what makes one customer's facts comparable with the rest of the base: the fitted
BG/NBD and Gamma-Gamma models, the profit margin ratio applied to lifetime value, the fallback
visit cadence, and the cut points of the RFM scores and value tiers. A cut point is the lowest
value that reaches a score (or tier); scoring by cut points reproduces rapport.insights.rfm on
the base it came from exactly, and scores anyone else on the same scale.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import polars as pl

from rapport.insights import advocates, clv, retention, rfm
from rapport.insights.transactions import summarise_customers

DAYS_PER_UNIT = clv.DAYS_PER_UNIT["week"]
EPOCH = dt.date(1970, 1, 1)
VISIT_BANDS = (("0-2", 0, 2), ("3-6", 3, 6), ("7+", 7, None))  # service visits in the last year


@dataclass
class Calibration:
    """The scale a run scores customers on (stored as JSON on RecomputeRun)."""

    bgnbd: dict[str, float] | None = None
    gamma_gamma: dict[str, float] | None = None
    fit_error: str = ""
    fit_note: str = ""  # spread parameters held at their cap (clv.spread_note); not an error
    margin_ratio: float = 1.0
    fallback_gap: float = retention.RetentionRule().default_gap_days
    rfm_cuts: dict[str, list[float | None]] = field(default_factory=dict)
    tier_cuts: list[float | None] = field(default_factory=list)
    rule: dict[str, float] = field(default_factory=lambda: retention.RetentionRule().as_dict())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def retention_rule(self) -> retention.RetentionRule:
        return retention.RetentionRule(**self.rule)

    def value_models(self) -> clv.ValueModels | None:
        if not self.bgnbd or not self.gamma_gamma:
            return None
        return clv.ValueModels(
            clv.BgNbdParams(**self.bgnbd, loglik=0.0, customers=0),
            clv.GammaGammaParams(**self.gamma_gamma, loglik=0.0, customers=0),
        )


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def cut_points(values: np.ndarray, scores: np.ndarray, levels: int) -> list[float | None]:
    """For score levels 2..levels, the lowest value scoring at least that (None: none does)."""
    out: list[float | None] = []
    for level in range(2, levels + 1):
        reached = values[scores >= level]
        out.append(float(reached.min()) if reached.size else None)
    return out


def score_by_cuts(values: np.ndarray, cuts: list[float | None]) -> np.ndarray:
    """1 + the number of cut points at or below each value."""
    bounds = np.array([math.inf if c is None else c for c in cuts], dtype=np.float64)
    return (1 + np.searchsorted(bounds, values, side="right")).astype(np.int8)


TIER_NAMES = tuple(name for name, _ in rfm.VALUE_TIERS)  # best first


def tier_cuts_from(values: np.ndarray, tiers: np.ndarray) -> list[float | None]:
    """Lowest value of each tier and better, best tier first (bronze needs none)."""
    cuts: list[float | None] = []
    for k in range(len(TIER_NAMES) - 1):
        reached = values[np.isin(tiers, TIER_NAMES[: k + 1])]
        cuts.append(float(reached.min()) if reached.size else None)
    return cuts


def tiers_by_cuts(values: np.ndarray, cuts: list[float | None]) -> np.ndarray:
    # Cut points run from the best tier down, so they do not increase; count how many a value
    # falls short of.
    bounds = np.array([math.inf if c is None else c for c in cuts], dtype=np.float64)
    short = (values[:, None] < bounds[None, :]).sum(axis=1)
    return np.array(TIER_NAMES, dtype=object)[short].astype(str)


def visits_band(visits_per_year: pl.Expr) -> pl.Expr:
    expr = pl.when(visits_per_year.is_null()).then(pl.lit(VISIT_BANDS[0][0]))
    for name, low, high in VISIT_BANDS:
        cond = visits_per_year >= low
        if high is not None:
            cond = cond & (visits_per_year <= high)
        expr = expr.when(cond).then(pl.lit(name))
    return expr.otherwise(pl.lit(VISIT_BANDS[-1][0]))


@dataclass(frozen=True)
class Inputs:
    """What facts are computed from; days are local days since 1970-01-01."""

    customers: pl.DataFrame  # id, home_unit
    touchpoints: pl.DataFrame  # customer, day, kind, amount, margin (visits, lock-in events)
    money: pl.DataFrame  # customer, revenue, profit over every touchpoint up to as_of
    responses: pl.DataFrame  # customer, ts, nps_score, nps_class, loyalty, attachment, tier
    referrals: pl.DataFrame  # customer, day, referred
    as_of_day: int
    default_margin_rate: float


def customer_facts(
    inputs: Inputs, calibration: Calibration | None, referred_values: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, Calibration]:
    """Facts for every customer of `inputs.customers`; calibrate on them when `calibration` is
    None. `referred_values` (customer, clv, profit) supplies friends outside this set."""
    refit = calibration is None
    cal = calibration or Calibration()
    rule = cal.retention_rule
    as_of = inputs.as_of_day
    tp = inputs.touchpoints.filter(pl.col("day") <= as_of)
    visits = tp.filter(pl.col("kind").is_in(list(retention.VISIT_KINDS))).with_columns(
        (pl.col("kind") == "service_visit").alias("service")
    )
    cadence = retention.visit_cadence(visits.select("customer", "day", "service"), as_of)
    if refit:
        cal.fallback_gap = retention.fallback_gap(cadence, rule)
    states = retention.retention_states(cadence, as_of, rule, cal.fallback_gap)
    attitude = _latest_attitude(inputs.responses)
    # The lock-in rule matters for the retained who feel nothing: only they are examined.
    candidates = (
        states.filter(pl.col("state") == retention.RETAINED)
        .join(attitude, on="customer", how="inner")
        .filter(pl.col("engagement_tier").is_in(list(retention.DETACHED_TIERS)))["customer"]
        .implode()
    )
    events = tp.filter(
        pl.col("kind").is_in(list(retention.LOCK_IN_KINDS)) & pl.col("customer").is_in(candidates)
    ).select("customer", "day")
    lock = retention.lock_in(
        visits.filter(pl.col("customer").is_in(candidates)).select("customer", "day"),
        events,
        as_of,
        rule,
    ).drop("returns", "chance_share")

    money = inputs.money.select("customer", "revenue", "profit")
    value, cal = _lifetime_values(visits, as_of, cal, refit)
    if cal.value_models() is None:
        value = _cadence_values(value, states, visits, cal, rule)

    base = (
        inputs.customers.rename({"id": "customer"})
        .join(states, on="customer", how="left")
        .join(lock, on="customer", how="left")
        .join(money, on="customer", how="left")
        .join(value, on="customer", how="left")
        .with_columns(
            pl.col("visits").fill_null(0),
            (pl.col("visits").fill_null(0) - 1).clip(lower_bound=0).alias("returns"),
            pl.col("prompted_returns").fill_null(0),
            pl.col("lock_in_flag").fill_null(False),
            pl.col("revenue").fill_null(0.0),
            pl.col("profit").fill_null(0.0),
            pl.col("clv").fill_null(0.0),
            pl.col("frequency").fill_null(0.0),
            pl.col("recency").fill_null(0.0),
            pl.col("age").fill_null(0.0),
            pl.col("monetary").fill_null(0.0),
            pl.col("state").fill_null(retention.NO_VISITS),
            pl.col("gap_is_fallback").fill_null(False),
        )
        .sort("customer")
    )
    base, cal = _value_scores(base, cal, refit)
    base = base.join(attitude, on="customer", how="left")
    base = base.with_columns(
        retention.matrix_cell(pl.col("state"), pl.col("engagement_tier")).alias("matrix_cell"),
        pl.col("engagement_tier").fill_null(""),
        pl.col("nps_class").fill_null(""),
    )
    base = _with_referrals(base, inputs.referrals, referred_values)
    return base, cal


def _cadence_values(
    value: pl.DataFrame,
    states: pl.DataFrame,
    visits: pl.DataFrame,
    cal: Calibration,
    rule: retention.RetentionRule,
) -> pl.DataFrame:
    """The fallback when BG/NBD cannot be fitted (e.g. service visits so regular that the
    purchase-rate distribution degenerates): value from each customer's own cadence.

    P(still a customer) is 1 up to one expected gap after the last visit, falling linearly to 0
    at the "lost" threshold (lost_factor gaps); expected visits in the next 12 months are
    365 / gap times that probability; CLV = margin ratio × mean spend per visit × expected
    visits, discounted by half a year at the documented 10% a year.
    """
    terms = clv.LifetimeValueTerms()
    spend = visits.group_by("customer").agg(pl.col("amount").fill_null(0.0).mean().alias("spend"))
    gap, since = pl.col("expected_gap"), pl.col("days_since").cast(pl.Float64)
    alive = (
        pl.when(since <= gap)
        .then(1.0)
        .otherwise(((rule.lost_factor * gap - since) / ((rule.lost_factor - 1) * gap)).clip(0, 1))
    )
    discount = (1 + terms.annual_discount_rate) ** -0.5
    fallback = (
        states.select("customer", alive.alias("p_alive"), gap)
        .join(spend, on="customer", how="left")
        .with_columns(
            (
                cal.margin_ratio
                * pl.col("spend").fill_null(0.0)
                * pl.col("p_alive")
                * 365.0
                / pl.col("expected_gap")
                * discount
            ).alias("clv")
        )
        .select("customer", "p_alive", "clv")
    )
    return value.drop("p_alive", "clv").join(fallback, on="customer", how="left")


def _lifetime_values(
    visits: pl.DataFrame, as_of: int, cal: Calibration, refit: bool
) -> tuple[pl.DataFrame, Calibration]:
    """BG/NBD inputs, P(alive) and CLV per visiting customer, in weeks, calibrated to as_of."""
    schema = {
        "customer": pl.Int64,
        "frequency": pl.Float64,
        "recency": pl.Float64,
        "age": pl.Float64,
        "monetary": pl.Float64,
        "p_alive": pl.Float64,
        "clv": pl.Float64,
    }
    if visits.height == 0:
        return pl.DataFrame(schema=schema), cal
    end = EPOCH + dt.timedelta(days=as_of)
    transactions = visits.select(
        "customer",
        pl.col("day").cast(pl.Date).alias("date"),
        pl.col("amount").fill_null(0.0),
    )
    summary = summarise_customers(transactions, end, DAYS_PER_UNIT)
    x, tx, big_t, m = summary.frequency, summary.recency, summary.T, summary.monetary
    if refit:
        spend = transactions["amount"].sum()
        margin = visits.select(
            pl.when(pl.col("margin").is_not_null()).then(pl.col("margin")).otherwise(0.0).sum()
        ).item()
        cal.margin_ratio = float(min(max(margin / spend, 0.0), 1.0)) if spend > 0 else 1.0
        try:
            models = clv.fit_value_models(x, tx, big_t, m)
            cal.bgnbd = {k: getattr(models.bgnbd, k) for k in ("r", "alpha", "a", "b")}
            cal.gamma_gamma = {k: getattr(models.gamma_gamma, k) for k in ("p", "q", "v")}
            cal.fit_error = ""
            cal.fit_note = models.note
        except clv.FitError as exc:
            cal.bgnbd = cal.gamma_gamma = None
            cal.fit_error = str(exc)
            cal.fit_note = ""
    models = cal.value_models()
    if models is None:
        alive = np.full(x.size, np.nan)
        lifetime = np.zeros(x.size)
    else:
        alive = clv.probability_alive(models.bgnbd, x, tx, big_t)
        lifetime = clv.customer_lifetime_value(
            models.bgnbd,
            models.gamma_gamma,
            x,
            tx,
            big_t,
            m,
            days_per_unit=DAYS_PER_UNIT,
            terms=clv.LifetimeValueTerms(margin=cal.margin_ratio),
        )
    frame = pl.DataFrame(
        {
            "customer": summary.customer_ids.astype(np.int64),
            "frequency": x,
            "recency": tx,
            "age": big_t,
            "monetary": m,
            "p_alive": alive,
            "clv": lifetime,
        },
        schema=schema,
    ).with_columns(pl.col("p_alive").fill_nan(None))
    return frame, cal


def _value_scores(
    base: pl.DataFrame, cal: Calibration, refit: bool
) -> tuple[pl.DataFrame, Calibration]:
    """RFM scores and value tiers; customers without visits score 1 and are bronze."""
    visited = (base["visits"] > 0).to_numpy()
    recency = -base["days_since"].cast(pl.Float64).fill_null(math.inf).to_numpy()
    frequency = base["visits"].cast(pl.Float64).to_numpy()
    monetary = base["revenue"].to_numpy()
    value = base["clv"].to_numpy()
    if refit:
        scores = rfm.rfm_scores(-recency[visited], frequency[visited], monetary[visited])
        cal.rfm_cuts = {
            "recency": cut_points(recency[visited], scores.recency, 5),
            "frequency": cut_points(frequency[visited], scores.frequency, 5),
            "monetary": cut_points(monetary[visited], scores.monetary, 5),
        }
        cal.tier_cuts = tier_cuts_from(value[visited], rfm.value_tiers(value[visited]))
    r = np.where(visited, score_by_cuts(recency, cal.rfm_cuts["recency"]), 1)
    f = np.where(visited, score_by_cuts(frequency, cal.rfm_cuts["frequency"]), 1)
    mo = np.where(visited, score_by_cuts(monetary, cal.rfm_cuts["monetary"]), 1)
    tiers = np.where(visited, tiers_by_cuts(value, cal.tier_cuts), TIER_NAMES[-1])
    out = base.with_columns(
        pl.Series("rfm_recency", r, dtype=pl.Int16),
        pl.Series("rfm_frequency", f, dtype=pl.Int16),
        pl.Series("rfm_monetary", mo, dtype=pl.Int16),
        pl.Series("value_tier", tiers, dtype=pl.String),
    ).with_columns(
        pl.concat_str(
            [pl.col("rfm_recency"), pl.col("rfm_frequency"), pl.col("rfm_monetary")]
        ).alias("rfm_code")
    )
    return out, cal


def _latest_attitude(responses: pl.DataFrame) -> pl.DataFrame:
    """The latest engagement tier (with its sub-scores) and the latest NPS answer per customer."""
    answered = responses.filter(pl.col("customer").is_not_null()).sort("ts", "id")
    engagement = (
        answered.filter(pl.col("tier").is_not_null() & (pl.col("tier") != ""))
        .group_by("customer")
        .agg(
            pl.col("tier").last().alias("engagement_tier"),
            pl.col("ts").last().alias("engagement_ts"),
            pl.col("loyalty").last(),
            pl.col("attachment").last(),
        )
    )
    nps = (
        answered.filter(pl.col("nps_score").is_not_null())
        .group_by("customer")
        .agg(pl.col("nps_score").last(), pl.col("nps_class").last())
    )
    return engagement.join(nps, on="customer", how="full", coalesce=True)


def _with_referrals(
    base: pl.DataFrame, referrals: pl.DataFrame, referred_values: pl.DataFrame | None
) -> pl.DataFrame:
    values = base.select("customer", "clv", "profit")
    if referred_values is not None and referred_values.height:
        outside = referred_values.filter(~pl.col("customer").is_in(values["customer"].implode()))
        values = pl.concat([values, outside.select(values.columns)], how="vertical_relaxed")
    totals = advocates.referrer_totals(referrals, values).select(
        "customer", "referrals", "referred_customers", "referred_value"
    )
    by = advocates.first_referrals(referrals).rename(
        {"referred": "customer", "referred_by": "referred_by"}
    )
    return (
        base.join(totals, on="customer", how="left")
        .join(by, on="customer", how="left")
        .with_columns(
            pl.col("referrals").fill_null(0),
            pl.col("referred_customers").fill_null(0),
            pl.col("referred_value").fill_null(0.0),
        )
    )


def insight_rows(facts: pl.DataFrame, as_of: dt.datetime) -> pl.DataFrame:
    """The facts under CustomerInsight's column (attribute) names, ready for frames.write_frame."""

    def day(col: str) -> pl.Expr:
        return pl.col(col).cast(pl.Date)

    return facts.select(
        pl.col("customer").alias("customer_id"),
        pl.col("home_unit").alias("home_unit_id"),
        pl.lit(as_of).cast(pl.Datetime("us", "UTC")).alias("as_of"),
        pl.col("visits").cast(pl.Int64),
        day("first_day").alias("first_visit"),
        day("last_day").alias("last_visit"),
        pl.col("days_since").cast(pl.Int64).alias("days_since_visit"),
        pl.col("expected_gap").alias("expected_gap_days"),
        pl.col("gap_is_fallback"),
        pl.col("visits_per_year"),
        (
            pl.col("model_year").cast(pl.Int64)
            if "model_year" in facts.columns
            else pl.lit(None, dtype=pl.Int64).alias("model_year")
        ),
        pl.col("state").alias("retention_state"),
        pl.col("engagement_tier"),
        pl.from_epoch(pl.col("engagement_ts"), time_unit="s")
        .dt.replace_time_zone("UTC")
        .alias("engagement_at"),
        pl.col("loyalty"),
        pl.col("attachment"),
        pl.col("nps_score").cast(pl.Int64),
        pl.col("nps_class"),
        pl.col("matrix_cell"),
        pl.col("prompted_returns").cast(pl.Int64),
        pl.col("returns").cast(pl.Int64),
        pl.col("lock_in_flag"),
        pl.col("revenue"),
        pl.col("profit"),
        pl.col("frequency"),
        pl.col("recency"),
        pl.col("age"),
        pl.col("monetary"),
        pl.col("p_alive"),
        pl.col("clv"),
        pl.col("rfm_recency").cast(pl.Int64),
        pl.col("rfm_frequency").cast(pl.Int64),
        pl.col("rfm_monetary").cast(pl.Int64),
        pl.col("rfm_code"),
        pl.col("value_tier"),
        pl.col("referrals").cast(pl.Int64),
        pl.col("referred_customers").cast(pl.Int64),
        pl.col("referred_value"),
        pl.col("referred_by").alias("referred_by_id"),
    )
