"""Read-only queries behind the insights pages: summary tables in, plain figures out.

Every dashboard reads the tables the insights job writes (rapport.insights.models) with a fixed,
small number of indexed queries — never a Python loop over customer rows — so a page costs the
same on five customers as on a million. The intervals of added-up cells come from the same
functions the job uses (rapport.insights.measures / rapport.surveys.stats).

A `Scope` is either the whole enterprise (dimension "all") or one unit and its subtree
(dimension "unit", key = the unit id), which is how the summary tables are keyed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils.translation import gettext_lazy as _

from rapport.insights import benchmarks, economics, measures, summaries
from rapport.insights.models import (
    CompetitorBenchmark,
    CustomerInsight,
    DriverResult,
    InsightFigure,
    MatrixSummary,
    RecomputeRun,
    ScoreSummary,
    SegmentSummary,
)
from rapport.insights.rfm import VALUE_TIERS
from rapport.org.models import OrgUnit
from rapport.surveys import scoring, stats

TREND_MEASURES = ("nps", "csat", "ces", "csi")
TREND_MONTHS = 12
COMPLAINT_WEEKS = 26
LOW_P_ALIVE = summaries.LOW_P_ALIVE  # "low P(alive)": more likely gone than not
CELLS = ("advocate", "locked_in", "at_risk", "lost", "unmeasured", "no_visits")
VALUE_TIER_NAMES = tuple(name for name, _share in VALUE_TIERS)
VISITS_BANDS = {"0-2": (0.0, 3.0), "3-6": (3.0, 7.0), "7+": (7.0, None)}


def measure_labels() -> dict[str, str]:
    return {
        "nps": _("NPS"),
        "csat": _("CSAT (share satisfied)"),
        "ces": _("CES (mean, 1–7)"),
        "ces_easy": _("CES (share easy)"),
        "csi": _("CSI (0–1000)"),
        "loyalty": _("Loyalty (1–5)"),
        "attachment": _("Attachment (1–5)"),
    }


def tier_labels() -> dict[str, str]:
    return {
        scoring.FULLY_ENGAGED: _("Fully engaged"),
        scoring.ENGAGED: _("Engaged"),
        scoring.INDIFFERENT: _("Indifferent"),
        scoring.ACTIVELY_DISENGAGED: _("Actively disengaged"),
    }


def cell_labels() -> dict[str, str]:
    return dict(CustomerInsight.Cell.choices)


def value_tier_labels() -> dict[str, str]:
    return {
        "platinum": _("Platinum"),
        "gold": _("Gold"),
        "silver": _("Silver"),
        "bronze": _("Bronze"),
    }


def context_labels() -> dict[str, str]:
    return {
        "all": _("All responses"),
        "visit_type": _("Visit type"),
        "day_type": _("Weekday or weekend"),
        "daypart": _("Time of day"),
    }


@dataclass(frozen=True)
class Scope:
    """Whose figures: the enterprise (unit None) or one unit's subtree."""

    unit: OrgUnit | None = None
    segment: tuple[str, str] | None = None  # a stored segment's (dimension, key) instead

    @property
    def dimension(self) -> str:
        if self.segment is not None:
            return self.segment[0]
        return "all" if self.unit is None else "unit"

    @property
    def key(self) -> str:
        if self.segment is not None:
            return self.segment[1]
        return "" if self.unit is None else str(self.unit.pk)

    @property
    def path(self) -> str:
        return "" if self.unit is None else self.unit.path


def visible_unit(user_path: str | None, pk: int) -> OrgUnit | None:
    """The unit if the user may see it (their subtree), else None."""
    if user_path is None:
        return None
    return OrgUnit.objects.filter(pk=pk, path__startswith=user_path).first()


# --- Scores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorePoint:
    measure: str
    period_start: dt.date
    interval: stats.Interval | None


@dataclass
class Trend:
    months: list[dt.date]
    points: dict[str, list[ScorePoint]]  # measure → one point per month (interval None if none)
    last_year: dict[str, stats.Interval | None]  # measure → the months added up


def trend(scope: Scope, today: dt.date, months: int = TREND_MONTHS) -> Trend:
    """Monthly NPS/CSAT/CES/CSI cells of the scope for the last `months` months (one query),
    and the same months added up (sufficient statistics summed)."""
    first = month_first_day(today, months - 1)
    rows = ScoreSummary.objects.filter(
        dimension=scope.dimension,
        key=scope.key,
        measure__in=TREND_MEASURES,
        period_kind="month",
        period_start__gte=first,
    ).values_list("measure", "period_start", "n", "a", "b", "c", "total", "squares")
    month_list = [month_first_day(today, months - 1 - i) for i in range(months)]
    cells: dict[tuple[str, dt.date], tuple] = {}
    sums: dict[str, list[float]] = {}
    for measure, start, n, a, b, c, total, squares in rows:
        cells[(measure, start)] = (n, a, b, c, total, squares)
        acc = sums.setdefault(measure, [0, 0, 0, 0, 0.0, 0.0])
        for i, v in enumerate((n, a, b, c, total, squares)):
            acc[i] += v
    points = {
        m: [
            ScorePoint(m, start, measures.interval_for(m, *cells[(m, start)]))
            if (m, start) in cells
            else ScorePoint(m, start, None)
            for start in month_list
        ]
        for m in TREND_MEASURES
    }
    last_year = {
        m: measures.interval_for(m, *[int(v) if i < 4 else v for i, v in enumerate(sums[m])])
        if m in sums
        else None
        for m in TREND_MEASURES
    }
    return Trend(month_list, points, last_year)


def month_first_day(today: dt.date, back: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


# --- Engagement mix and benchmarks ----------------------------------------------------------


@dataclass
class Mix:
    counts: dict[str, int]
    n: int
    shares: dict[str, stats.Interval | None]
    references: list[tuple[benchmarks.Reference, list[benchmarks.TierComparison]]]


def engagement_mix(scope: Scope) -> Mix:
    """Customers by their latest engagement tier (the `current` cells of the last run)."""
    rows = (
        ScoreSummary.objects.filter(
            dimension=scope.dimension,
            key=scope.key,
            measure__in=measures.TIER_MEASURES,
            period_kind="current",
        )
        .order_by("-period_start")
        .values_list("measure", "period_start", "a")
    )
    counts: dict[str, int] = {}
    latest = None
    for measure, start, a in rows:
        latest = latest or start
        if start == latest:
            counts[measure.removeprefix("tier.")] = a
    return mix_from_counts(counts)


def mix_from_counts(counts: Mapping[str, int]) -> Mix:
    clean = {t: int(counts.get(t, 0)) for t in scoring.TIERS}
    n = sum(clean.values())
    return Mix(
        counts=clean,
        n=n,
        shares={t: stats.wilson_interval(clean[t], n) for t in scoring.TIERS},
        references=[(ref, benchmarks.compare_mix(clean, ref)) for ref in benchmarks.REFERENCES],
    )


def competitors(mix: Mix, nps: stats.Interval | None) -> list[tuple[Any, Any]]:
    """(CompetitorBenchmark, comparison) for every entered competitor, one query."""
    out = []
    for row in CompetitorBenchmark.objects.all():
        data = {
            "name": row.name,
            "period": row.period,
            "source": row.source,
            "n": row.n,
            "fully_engaged": row.fully_engaged,
            "nps": row.nps,
        }
        out.append((row, benchmarks.compare_competitor(mix.counts, nps, data)))
    return out


# --- Retention × loyalty and value -----------------------------------------------------------


@dataclass
class MatrixCell:
    cell: str
    customers: int = 0
    lock_in_flagged: int = 0
    clv: float = 0.0
    profit: float = 0.0
    share: float = 0.0


@dataclass
class MatrixGrid:
    cells: dict[str, MatrixCell]
    grid: dict[tuple[str, str], int]  # (retention_state, engagement tier or "") → customers
    customers: int


@dataclass
class ValueTier:
    tier: str
    customers: int = 0
    clv: float = 0.0
    profit: float = 0.0
    at_risk_customers: int = 0
    at_risk_clv: float = 0.0


def matrix_and_tiers(scope: Scope) -> tuple[MatrixGrid, list[ValueTier] | None]:
    """The retention × loyalty matrix of the scope, and (for the enterprise) customers and
    value per value tier — both from MatrixSummary in one query."""
    dims = Q(dimension=scope.dimension, key=scope.key)
    if scope.unit is None:
        dims |= Q(dimension="value_tier")
    rows = MatrixSummary.objects.filter(dims).values_list(
        "dimension",
        "key",
        "retention_state",
        "engagement_tier",
        "cell",
        "customers",
        "lock_in_flagged",
        "clv",
        "profit",
    )
    cells = {c: MatrixCell(c) for c in CELLS}
    grid: dict[tuple[str, str], int] = {}
    tiers = {t: ValueTier(t) for t in VALUE_TIER_NAMES}
    for dimension, key, state, tier, cell, customers, flagged, clv, profit in rows:
        if dimension == "value_tier":
            vt = tiers.setdefault(key, ValueTier(key))
            vt.customers += customers
            vt.clv += clv
            vt.profit += profit
            if cell == "at_risk":
                vt.at_risk_customers += customers
                vt.at_risk_clv += clv
            continue
        mc = cells.setdefault(cell, MatrixCell(cell))
        mc.customers += customers
        mc.lock_in_flagged += flagged
        mc.clv += clv
        mc.profit += profit
        grid[(state, tier)] = grid.get((state, tier), 0) + customers
    total = sum(c.customers for c in cells.values())
    for c in cells.values():
        c.share = c.customers / total if total else 0.0
    matrix = MatrixGrid(cells, grid, total)
    return matrix, (list(tiers.values()) if scope.unit is None else None)


@dataclass
class ValueAtRisk:
    """Lifetime value at risk: the at-risk cell (overdue on their own cadence) plus customers in
    any other cell whose P(alive) is low (< LOW_P_ALIVE), both from SegmentSummary."""

    customers: int
    clv: float
    low_alive_customers: int = 0  # low P(alive) outside the at-risk cell
    low_alive_clv: float = 0.0

    @property
    def total_customers(self) -> int:
        return self.customers + self.low_alive_customers

    @property
    def total_clv(self) -> float:
        return self.clv + self.low_alive_clv


def value_at_risk(matrix: MatrixGrid) -> ValueAtRisk:
    """The at-risk cell alone (what MatrixSummary holds); see value_and_risk for the rest."""
    at_risk = matrix.cells["at_risk"]
    return ValueAtRisk(at_risk.customers, at_risk.clv)


def value_and_risk(scope: Scope) -> tuple[list[ValueTier], ValueAtRisk]:
    """The scope's customers and value per value tier (with the at-risk cell's share) and its
    value at risk, from SegmentSummary grouped by value tier and cell (one query)."""
    rows = (
        SegmentSummary.objects.filter(summary_unit(scope.unit))
        .values("value_tier", "cell")
        .annotate(
            n=Sum("customers"),
            v=Sum("clv"),
            p=Sum("profit"),
            low=Sum("low_alive"),
            low_v=Sum("low_alive_clv"),
        )
        .order_by()
        .values_list("value_tier", "cell", "n", "v", "p", "low", "low_v")
    )
    tiers = {t: ValueTier(t) for t in VALUE_TIER_NAMES}
    var = ValueAtRisk(0, 0.0)
    for tier, cell, n, v, p, low, low_v in rows:
        vt = tiers.setdefault(tier, ValueTier(tier))
        vt.customers += n or 0
        vt.clv += v or 0.0
        vt.profit += p or 0.0
        if cell == "at_risk":
            vt.at_risk_customers += n or 0
            vt.at_risk_clv += v or 0.0
            var.customers += n or 0
            var.clv += v or 0.0
        else:
            var.low_alive_customers += low or 0
            var.low_alive_clv += low_v or 0.0
    return list(tiers.values()), var


def summary_unit(
    unit: OrgUnit | None,
    flags: str | None = "",
    attribute: str = "",
    value: str = "",
    fine: bool = False,
) -> Q:
    """SegmentSummary rows of a slice (by default every customer: no flags, no attribute) for
    a unit's subtree (home units), or for everyone; the coarse rows (any visits band and
    model year) unless `fine`."""
    cond = Q(attribute=attribute, attribute_value=value)
    cond &= ~Q(visits_band="") if fine else Q(visits_band="")
    if flags is not None:
        cond &= Q(flags=flags)
    if unit is None:
        return cond
    return cond & Q(home_unit__in=OrgUnit.objects.filter(path__startswith=unit.path).values("pk"))


# --- Complaints -----------------------------------------------------------------------------


def complaint_trend(scope: Scope, today: dt.date, weeks: int = COMPLAINT_WEEKS) -> list[tuple]:
    """(week start, complaints) for the last `weeks` weeks: cases opened from a complaint or
    about a complaint touchpoint, one grouped query; [] when the cases app has none."""
    from rapport.cases.models import Case

    since = today - dt.timedelta(days=today.weekday() + 7 * (weeks - 1))
    qs = Case.objects.filter(
        Q(source=Case.Source.COMPLAINT) | Q(touchpoint__kind="complaint"),
        opened_at__date__gte=since,
    )
    if scope.unit is not None:
        qs = qs.filter(unit__path__startswith=scope.path)
    rows = (
        qs.annotate(week=TruncWeek("opened_at"))
        .values("week")
        .annotate(n=Count("pk"))
        .order_by("week")
        .values_list("week", "n")
    )
    counts = {_as_date(week): n for week, n in rows}
    if not counts:
        return []
    return [
        (since + dt.timedelta(weeks=i), counts.get(since + dt.timedelta(weeks=i), 0))
        for i in range(weeks)
    ]


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


# --- Drivers, figures, runs -----------------------------------------------------------------


def driver_rows(limit: int = 200) -> list[DriverResult]:
    """Driver results of the last full run, per survey, target and context (a small table)."""
    return list(DriverResult.objects.select_related("survey")[:limit])


def figures() -> dict[str, dict]:
    return {
        key: value
        for key, value in InsightFigure.objects.filter(
            key__in=["referrals", "economics"]
        ).values_list("key", "value")
    }


def last_run() -> RecomputeRun | None:
    return RecomputeRun.objects.filter(finished_at__isnull=False, error="").first()


def economics_inputs(stored: Mapping[str, Any] | None) -> economics.EconomicsInputs | None:
    inputs = (stored or {}).get("inputs")
    if not inputs:
        return None
    return economics.EconomicsInputs(
        retention_rate=float(inputs.get("retention_rate", 0.0)),
        annual_margin=float(inputs.get("annual_margin", 0.0)),
        active_customers=int(inputs.get("active_customers", 0)),
        discount_rate=float(inputs.get("discount_rate", 0.10)),
    )


# --- Peers ----------------------------------------------------------------------------------


@dataclass
class PeerRow:
    unit: OrgUnit
    nps: stats.Interval | None
    engaged_share: stats.Interval | None
    nps_rank: int | None = None
    engaged_rank: int | None = None


def peers(unit: OrgUnit, today: dt.date, months: int = TREND_MONTHS) -> list[PeerRow]:
    """The unit and its siblings (same parent), ranked (see peer_rows)."""
    siblings = (
        list(OrgUnit.objects.filter(parent_id=unit.parent_id).order_by("name"))
        if unit.parent_id
        else [unit]
    )
    return peer_rows(siblings, today, months)


def peer_rows(siblings: list[OrgUnit], today: dt.date, months: int = TREND_MONTHS) -> list[PeerRow]:
    """Units on NPS over the last `months` months and on the share of fully engaged customers
    now, ranked best first (two queries)."""
    keys = [str(u.pk) for u in siblings]
    first = month_first_day(today, months - 1)
    nps_rows = (
        ScoreSummary.objects.filter(
            dimension="unit",
            key__in=keys,
            measure="nps",
            period_kind="month",
            period_start__gte=first,
        )
        .values("key")
        .annotate(sa=Sum("a"), sb=Sum("b"), sc=Sum("c"))
        .order_by()
        .values_list("key", "sa", "sb", "sc")
    )
    nps = {k: stats.nps_interval(a or 0, b or 0, c or 0) for k, a, b, c in nps_rows}
    tier_rows = (
        ScoreSummary.objects.filter(
            dimension="unit",
            key__in=keys,
            measure=f"tier.{scoring.FULLY_ENGAGED}",
            period_kind="current",
        )
        .order_by("key", "-period_start")
        .values_list("key", "a", "n")
    )
    engaged: dict[str, stats.Interval | None] = {}
    for k, a, n in tier_rows:
        engaged.setdefault(k, stats.wilson_interval(a, n))
    rows = [PeerRow(u, nps.get(str(u.pk)), engaged.get(str(u.pk))) for u in siblings]
    _rank(rows, "nps", "nps_rank")
    _rank(rows, "engaged_share", "engaged_rank")
    return rows


def _rank(rows: list[PeerRow], attr: str, out: str) -> None:
    scored = sorted(
        (r for r in rows if getattr(r, attr) is not None),
        key=lambda r: getattr(r, attr).estimate,
        reverse=True,
    )
    for i, r in enumerate(scored, start=1):
        setattr(r, out, i)


def child_units(unit: OrgUnit | None, user_path: str) -> list[OrgUnit]:
    """Units one level down (the enterprise's regions when unit is None) the user may see."""
    qs = OrgUnit.objects.filter(path__startswith=user_path)
    if unit is not None:
        qs = qs.filter(parent=unit)
    else:
        qs = qs.filter(parent__isnull=False, parent__parent__isnull=True)
    return list(qs.order_by("name"))
