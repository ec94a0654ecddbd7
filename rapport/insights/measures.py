"""Scores by cell (unit, segment, period) with 95% intervals, and tests for a change.

Plain polars/numpy, no ORM. A cell keeps its *sufficient statistics* — NPS counts, successes of
a share, n/sum/sum of squares of a mean — so months add up to quarters and years, and an
incremental run can rebuild a month without touching the rest. The intervals are those of
rapport.surveys.stats (adjusted-Wald NPS, Wilson, t), computed from the statistics; every cell
says whether its sample is small (stats.SMALL_SAMPLE) rather than being hidden.

Tests for a change between two periods or two units:
- NPS: z test on the difference of two trinomial NPS, Var(NPS) = (p₊ + p₋ − (p₊ − p₋)²)/n each;
- a share (CSAT top-2, a tier share): pooled two-proportion z test;
- a mean (CES, CSI): Welch's t test with the Welch–Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import polars as pl
from scipy import stats as sps

from rapport.surveys import scoring, stats

NPS = "nps"
MEAN_MEASURES = ("ces", "csi", "loyalty", "attachment")
SHARE_MEASURES = ("csat", "ces_easy")
TIER_MEASURES = tuple(f"tier.{t}" for t in scoring.TIERS)
MEASURES = (NPS, *SHARE_MEASURES, *MEAN_MEASURES, *TIER_MEASURES)
STAT_COLUMNS = ("n", "a", "b", "c", "total", "squares")
_NORMAL = NormalDist()


def kind_of(measure: str) -> str:
    """ "nps", "share" or "mean": which statistics and interval a measure uses."""
    if measure == NPS:
        return "nps"
    if measure in MEAN_MEASURES:
        return "mean"
    if measure in SHARE_MEASURES or measure.startswith("tier."):
        return "share"
    raise ValueError(f"unknown measure {measure!r}")


# --- per-response contributions ----------------------------------------------------------------


def response_contributions(responses: pl.DataFrame) -> pl.DataFrame:
    """Long frame: one row per (response, measure it contributes to) with its statistics.

    `responses` has the derived score columns of surveys.Response: nps_class, csat, ces,
    csi_index, loyalty, attachment, tier. Other columns (the keys of the cells) are kept.
    """
    keys = [c for c in responses.columns if c not in _SCORE_COLUMNS]
    zero = pl.lit(0, dtype=pl.Int64)
    none = pl.lit(0.0)
    parts = [
        responses.filter(
            pl.col("nps_class").is_in([scoring.PROMOTER, scoring.PASSIVE, scoring.DETRACTOR])
        ).select(
            *keys,
            pl.lit(NPS).alias("measure"),
            (pl.col("nps_class") == scoring.PROMOTER).cast(pl.Int64).alias("a"),
            (pl.col("nps_class") == scoring.PASSIVE).cast(pl.Int64).alias("b"),
            (pl.col("nps_class") == scoring.DETRACTOR).cast(pl.Int64).alias("c"),
            none.alias("total"),
            none.alias("squares"),
        ),
        _share(responses, keys, "csat", pl.col("csat") >= 4, pl.col("csat").is_not_null()),
        _share(responses, keys, "ces_easy", pl.col("ces") >= 5, pl.col("ces").is_not_null()),
    ]
    for measure, column in (
        ("ces", "ces"),
        ("csi", "csi_index"),
        ("loyalty", "loyalty"),
        ("attachment", "attachment"),
    ):
        value = pl.col(column).cast(pl.Float64)
        parts.append(
            responses.filter(pl.col(column).is_not_null()).select(
                *keys,
                pl.lit(measure).alias("measure"),
                zero.alias("a"),
                zero.alias("b"),
                zero.alias("c"),
                value.alias("total"),
                (value * value).alias("squares"),
            )
        )
    tiered = pl.col("tier").is_in(list(scoring.TIERS))
    for tier in scoring.TIERS:
        parts.append(_share(responses, keys, f"tier.{tier}", pl.col("tier") == tier, tiered))
    return pl.concat(parts, how="vertical")


_SCORE_COLUMNS = ("nps_class", "csat", "ces", "csi_index", "loyalty", "attachment", "tier")


def _share(
    responses: pl.DataFrame, keys: list[str], measure: str, success: pl.Expr, counted: pl.Expr
) -> pl.DataFrame:
    return responses.filter(counted).select(
        *keys,
        pl.lit(measure).alias("measure"),
        success.fill_null(False).cast(pl.Int64).alias("a"),
        pl.lit(0, dtype=pl.Int64).alias("b"),
        pl.lit(0, dtype=pl.Int64).alias("c"),
        pl.lit(0.0).alias("total"),
        pl.lit(0.0).alias("squares"),
    )


def cell_statistics(contributions: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Sum the statistics of contributions per (measure, *by)."""
    return contributions.group_by("measure", *by).agg(
        pl.len().cast(pl.Int64).alias("n"),
        pl.col("a").sum(),
        pl.col("b").sum(),
        pl.col("c").sum(),
        pl.col("total").sum(),
        pl.col("squares").sum(),
    )


def add_statistics(cells: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Add up cells that already carry statistics (months into quarters, say)."""
    return cells.group_by("measure", *by).agg(pl.col(c).sum() for c in STAT_COLUMNS)


# --- intervals from statistics -----------------------------------------------------------------


@lru_cache(maxsize=65536)
def _t975(df: int) -> float:
    """stats.t_quantile(0.975, df), from scipy's inverse t distribution: the same number (the
    tests check it) without a bisection per distinct sample size, of which a run has thousands."""
    return float(sps.t.ppf(0.975, df))


def mean_from_moments(n: int, total: float, squares: float) -> stats.Interval | None:
    """stats.mean_interval from n, Σx and Σx² (the statistics a cell keeps)."""
    if n <= 0:
        return None
    mean = total / n
    if n == 1:
        return stats.Interval(mean, mean, mean, 1, True)
    spread = squares - n * mean * mean
    # Equal values leave only rounding (~1e-16 of Σx² a term): that is no spread at all.
    variance = spread / (n - 1) if spread > squares * 1e-12 else 0.0
    half = _t975(n - 1) * math.sqrt(variance / n)
    return stats.Interval(mean, mean - half, mean + half, n, n < stats.SMALL_SAMPLE)


def interval_for(
    measure: str, n: int, a: int, b: int, c: int, total: float, squares: float
) -> stats.Interval | None:
    """The 95% interval of one cell (NPS in points −100…100, shares 0–1, means on their scale)."""
    kind = kind_of(measure)
    if kind == "nps":
        return stats.nps_interval(a, b, c)
    if kind == "share":
        return stats.wilson_interval(a, n)
    return mean_from_moments(n, total, squares)


def with_intervals(cells: pl.DataFrame) -> pl.DataFrame:
    """Add estimate, low, high and small_sample to cells with statistics.

    One interval per cell from the scalar functions of rapport.surveys.stats: a run has
    thousands of cells, not millions, and the arithmetic stays in one tested place.
    """
    rows = cells.select("measure", *STAT_COLUMNS).rows()
    out: dict[str, list] = {"estimate": [], "low": [], "high": [], "small_sample": []}
    for measure, n, a, b, c, total, squares in rows:
        interval = interval_for(measure, n, a, b, c, total, squares)
        out["estimate"].append(None if interval is None else interval.estimate)
        out["low"].append(None if interval is None else interval.low)
        out["high"].append(None if interval is None else interval.high)
        out["small_sample"].append(True if interval is None else interval.small_sample)
    return cells.with_columns(
        pl.Series("estimate", out["estimate"], dtype=pl.Float64),
        pl.Series("low", out["low"], dtype=pl.Float64),
        pl.Series("high", out["high"], dtype=pl.Float64),
        pl.Series("small_sample", out["small_sample"], dtype=pl.Boolean),
    )


def tier_mix(tiers: pl.Series) -> dict[str, stats.Interval | None]:
    """Share of each engagement tier among the values that have one, with Wilson intervals."""
    counted = tiers.filter(tiers.is_in(list(scoring.TIERS)))
    n = counted.len()
    return {t: stats.wilson_interval(int((counted == t).sum()), n) for t in scoring.TIERS}


# --- tests for a change ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Second minus first, with a 95% interval of the difference and a two-sided p-value."""

    difference: float
    low: float
    high: float
    statistic: float
    p_value: float
    test: str
    df: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def _two_sided_normal(z: float) -> float:
    return 2 * (1 - _NORMAL.cdf(abs(z))) if math.isfinite(z) else 0.0


def nps_change(first: tuple[int, int, int], second: tuple[int, int, int]) -> Change | None:
    """Test NPS₂ − NPS₁ (points), each from (promoters, passives, detractors) counts.

    Each NPS is the difference of two trinomial shares; its variance is
    (p₊ + p₋ − (p₊ − p₋)²)/n, and independent samples add their variances. The interval uses
    the adjusted-Wald shares of stats.nps_interval (3/4 added to promoters and detractors) so
    that it stays sensible at 0% or 100%; the z statistic uses the plain shares.
    """
    n1, n2 = sum(first), sum(second)
    if n1 == 0 or n2 == 0:
        return None

    def shares(counts: tuple[int, int, int], add: float) -> tuple[float, float]:
        n = sum(counts) + 4 * add
        return (counts[0] + add) / n, (counts[2] + add) / n

    def variance(p: float, d: float, n: float) -> float:
        return max(p + d - (p - d) ** 2, 0.0) / n

    p1, d1 = shares(first, 0.0)
    p2, d2 = shares(second, 0.0)
    diff = (p2 - d2) - (p1 - d1)
    se = math.sqrt(variance(p1, d1, n1) + variance(p2, d2, n2))
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    ap1, ad1 = shares(first, 0.75)
    ap2, ad2 = shares(second, 0.75)
    adj = (ap2 - ad2) - (ap1 - ad1)
    adj_se = math.sqrt(variance(ap1, ad1, n1 + 3) + variance(ap2, ad2, n2 + 3))
    return Change(
        difference=100 * diff,
        low=100 * max(adj - stats.Z95 * adj_se, -2.0),
        high=100 * min(adj + stats.Z95 * adj_se, 2.0),
        statistic=z,
        p_value=_two_sided_normal(z),
        test="nps_z",
    )


def proportion_change(first: tuple[int, int], second: tuple[int, int]) -> Change | None:
    """Test p₂ − p₁ from (successes, n) pairs: pooled z; Wald interval of the difference."""
    (x1, n1), (x2, n2) = first, second
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    diff = p2 - p1
    z = diff / se0 if se0 > 0 else 0.0
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Change(
        difference=diff,
        low=max(diff - stats.Z95 * se, -1.0),
        high=min(diff + stats.Z95 * se, 1.0),
        statistic=z,
        p_value=_two_sided_normal(z),
        test="two_proportion_z",
    )


def mean_change(first: tuple[int, float, float], second: tuple[int, float, float]) -> Change | None:
    """Welch's t test of mean₂ − mean₁ from (n, Σx, Σx²); None below two values a side."""
    (n1, s1, q1), (n2, s2, q2) = first, second
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = s1 / n1, s2 / n2
    v1 = max((q1 - n1 * m1 * m1) / (n1 - 1), 0.0) / n1
    v2 = max((q2 - n2 * m2 * m2) / (n2 - 1), 0.0) / n2
    diff = m2 - m1
    se = math.sqrt(v1 + v2)
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        return Change(diff, diff, diff, 0.0 if diff == 0 else math.inf, p, "welch_t", None)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    t = diff / se
    whole_df = max(int(df), 1)  # stats' t functions take whole degrees of freedom: conservative
    p = 2 * (1 - stats.t_cdf(abs(t), whole_df))
    half = _t975(whole_df) * se
    return Change(diff, diff - half, diff + half, t, min(max(p, 0.0), 1.0), "welch_t", df)


def change_between(measure: str, first: dict, second: dict) -> Change | None:
    """The right test for a measure, given two cells' statistics (dicts with STAT_COLUMNS)."""
    kind = kind_of(measure)
    if kind == "nps":
        return nps_change(
            (first["a"], first["b"], first["c"]), (second["a"], second["b"], second["c"])
        )
    if kind == "share":
        return proportion_change((first["a"], first["n"]), (second["a"], second["n"]))
    return mean_change(
        (first["n"], first["total"], first["squares"]),
        (second["n"], second["total"], second["squares"]),
    )
