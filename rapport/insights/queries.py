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
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Count, FloatField, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncWeek
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
    first = _month_start(today, months - 1)
    rows = ScoreSummary.objects.filter(
        dimension=scope.dimension,
        key=scope.key,
        measure__in=TREND_MEASURES,
        period_kind="month",
        period_start__gte=first,
    ).values_list("measure", "period_start", "n", "a", "b", "c", "total", "squares")
    month_list = [_month_start(today, months - 1 - i) for i in range(months)]
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


def _month_start(today: dt.date, back: int) -> dt.date:
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
        SegmentSummary.objects.filter(_summary_unit(scope.unit))
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


def _summary_unit(unit: OrgUnit | None) -> Q:
    """SegmentSummary rows of a unit's subtree (home units), or everyone's."""
    if unit is None:
        return Q()
    return Q(home_unit__in=OrgUnit.objects.filter(path__startswith=unit.path).values("pk"))


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
    first = _month_start(today, months - 1)
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


# --- Segments -------------------------------------------------------------------------------


SUMMARY_FILTERS = {
    "unit",
    "cell",
    "retention",
    "tier",
    "value",
    "visits",
    "model_year_from",
    "model_year_to",
}


@dataclass
class SegmentFilter:
    """Filters on the customers behind a figure (all optional): the drill-down and the segment
    explorer share them, so a chart's link opens exactly the customers it counted."""

    unit: OrgUnit | None = None
    cell: str = ""
    retention: str = ""
    tier: str = ""  # engagement tier, or "none" for no answer
    value: str = ""  # value tier
    lock_in: bool = False
    low_alive: bool = False
    at_risk_value: bool = False  # at-risk cell or low P(alive): the value at risk
    promoters: bool = False
    referrers: bool = False
    visits: str = ""  # band of service visits a year
    model_year_from: int | None = None
    model_year_to: int | None = None
    attribute: str = ""
    attribute_value: Any = None
    errors: dict[str, str] = field(default_factory=dict)

    def q(self, unit_ids: bool = False) -> Q:
        """The conditions on CustomerInsight. A unit is a join on the unit's path, which lets
        SQLite walk the (cell or tier, −clv) indexes in order and stop at a page; `unit_ids`
        makes it `home_unit IN (subtree)` instead, for the (home_unit, …) indexes."""
        cond = Q()
        if self.unit is not None and unit_ids:
            cond &= Q(home_unit__in=OrgUnit.objects.filter(path__startswith=self.unit.path))
        elif self.unit is not None:
            cond &= Q(home_unit__path__startswith=self.unit.path)
        if self.cell:
            cond &= Q(matrix_cell=self.cell)
        if self.retention:
            cond &= Q(retention_state=self.retention)
        if self.tier:
            cond &= Q(engagement_tier="" if self.tier == "none" else self.tier)
        if self.value:
            cond &= Q(value_tier=self.value)
        if self.lock_in:
            cond &= Q(lock_in_flag=True)
        if self.low_alive:
            cond &= Q(p_alive__lt=LOW_P_ALIVE)
        if self.at_risk_value:
            cond &= Q(matrix_cell="at_risk") | Q(p_alive__lt=LOW_P_ALIVE)
        if self.promoters:
            cond &= Q(nps_class="promoter")
        if self.referrers:
            cond &= Q(referrals__gt=0)
        if self.visits in VISITS_BANDS:
            low, high = VISITS_BANDS[self.visits]
            if low:
                cond &= Q(visits_per_year__gte=low)
            else:  # no service visit counted is "0–2" too
                cond &= Q(visits_per_year__isnull=True) | Q(visits_per_year__lt=high)
            if low and high is not None:
                cond &= Q(visits_per_year__lt=high)
        if self.model_year_from is not None:
            cond &= Q(model_year__gte=self.model_year_from)
        if self.model_year_to is not None:
            cond &= Q(model_year__lte=self.model_year_to)
        if self.attribute:
            cond &= Q(**{f"customer__attributes__{self.attribute}": self.attribute_value})
        return cond

    def params(self) -> dict[str, str]:
        """The query parameters that give this filter back (for links and exports)."""
        out: dict[str, str] = {}
        if self.unit is not None:
            out["unit"] = str(self.unit.pk)
        for name in ("cell", "retention", "tier", "value", "visits"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in ("lock_in", "low_alive", "at_risk_value", "promoters", "referrers"):
            if getattr(self, name):
                out[name] = "1"
        if self.model_year_from is not None:
            out["model_year_from"] = str(self.model_year_from)
        if self.model_year_to is not None:
            out["model_year_to"] = str(self.model_year_to)
        if self.attribute:
            out["attribute"] = self.attribute
            out["attribute_value"] = str(self.attribute_value)
        return out

    @property
    def is_empty(self) -> bool:
        return not self.params()

    @property
    def summary_dimension(self) -> tuple[str, str] | None:
        """(dimension, key) of the stored cells that hold exactly this segment, if any."""
        p = self.params()
        if not p:
            return ("all", "")
        if set(p) == {"unit"}:
            return ("unit", p["unit"])
        if set(p) == {"value"}:
            return ("value_tier", p["value"])
        if set(p) == {"visits"}:
            return ("visits_band", p["visits"])
        return None

    def summary_q(self) -> Q | None:
        """The conditions on SegmentSummary rows when the filter uses only its keys (unit, cell,
        retention, engagement tier, value tier, visits band, model years), else None. The flags
        and free attributes are per customer: those segments read CustomerInsight."""
        if not set(self.params()) <= SUMMARY_FILTERS:
            return None
        cond = _summary_unit(self.unit)
        if self.cell:
            cond &= Q(cell=self.cell)
        if self.retention:
            cond &= Q(retention_state=self.retention)
        if self.tier:
            cond &= Q(engagement_tier="" if self.tier == "none" else self.tier)
        if self.value:
            cond &= Q(value_tier=self.value)
        if self.visits:
            cond &= Q(visits_band=self.visits)
        if self.model_year_from is not None:
            cond &= Q(model_year__gte=self.model_year_from)
        if self.model_year_to is not None:
            cond &= Q(model_year__lte=self.model_year_to)
        return cond

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) pairs saying what is filtered, for headings and exports."""
        labels = []
        if self.unit is not None:
            labels.append((str(_("Unit")), self.unit.name))
        if self.cell:
            labels.append((str(_("Retention × loyalty")), str(cell_labels().get(self.cell))))
        if self.retention:
            labels.append(
                (str(_("Retention")), str(dict(CustomerInsight.Retention.choices)[self.retention]))
            )
        if self.tier:
            labels.append(
                (str(_("Engagement tier")), str(tier_labels().get(self.tier, _("No answer"))))
            )
        if self.value:
            labels.append((str(_("Value tier")), str(value_tier_labels()[self.value])))
        flags = {
            "lock_in": _("Returns follow lock-ins"),
            "low_alive": _("Low P(alive)"),
            "at_risk_value": _("Value at risk"),
            "promoters": _("Promoters"),
            "referrers": _("Referrers"),
        }
        for name, label in flags.items():
            if getattr(self, name):
                labels.append((str(label), str(_("yes"))))
        if self.visits:
            labels.append((str(_("Service visits a year")), self.visits))
        if self.model_year_from is not None or self.model_year_to is not None:
            span = f"{self.model_year_from or '…'}–{self.model_year_to or '…'}"
            labels.append((str(_("Model year")), span))
        if self.attribute:
            labels.append((self.attribute, str(self.attribute_value)))
        return labels


@dataclass
class SegmentMeasures:
    """A segment's figures. `stored` segments (everyone, a unit, a value tier) are read from the
    summary tables, which do not hold the per-customer extras (None then) and give NPS over
    the last 12 months of responses instead of customers' latest answers."""

    customers: int
    clv: float
    profit: float
    revenue: float | None
    mean_p_alive: float | None
    cells: dict[str, int]
    cells_clv: dict[str, float]
    lock_in: int
    mix: Mix
    nps: stats.Interval | None
    promoters: int | None
    referrers: int | None
    referred_customers: int | None
    value_tiers: dict[str, int | None]
    low_alive: int | None
    low_alive_clv: float | None
    stored: bool = False


def stored_segment_measures(
    dimension: str, key: str, today: dt.date, months: int = TREND_MONTHS
) -> SegmentMeasures | None:
    """The measures of a segment the summary tables hold (MatrixSummary and ScoreSummary: all,
    unit, value_tier), in two queries; None for any other segment."""
    if dimension not in {"all", "unit", "value_tier"}:
        return None
    wanted = Q(dimension=dimension, key=key)
    if dimension == "all":
        wanted |= Q(dimension="value_tier")
    rows = MatrixSummary.objects.filter(wanted).values_list(
        "dimension",
        "key",
        "engagement_tier",
        "cell",
        "customers",
        "lock_in_flagged",
        "clv",
        "profit",
    )
    cells = dict.fromkeys(CELLS, 0)
    cells_clv = dict.fromkeys(CELLS, 0.0)
    tiers: dict[str, int] = {}
    values: dict[str, int | None] = dict.fromkeys(VALUE_TIER_NAMES, 0)
    customers = lock_in = 0
    clv = profit = 0.0
    for dim, k, tier, cell, n, flagged, cell_clv, cell_profit in rows:
        if dim == "value_tier" and dimension == "all":
            values[k] = (values[k] or 0) + n
            continue
        customers += n
        lock_in += flagged
        clv += cell_clv
        profit += cell_profit
        cells[cell] = cells.get(cell, 0) + n
        cells_clv[cell] = cells_clv.get(cell, 0.0) + cell_clv
        if tier:
            tiers[tier] = tiers.get(tier, 0) + n
    if dimension == "value_tier":
        values = {t: (customers if t == key else 0) for t in VALUE_TIER_NAMES}
    elif dimension == "unit":
        values = dict.fromkeys(VALUE_TIER_NAMES)
    got = ScoreSummary.objects.filter(
        dimension=dimension,
        key=key,
        measure="nps",
        period_kind="month",
        period_start__gte=_month_start(today, months - 1),
    ).aggregate(sa=Sum("a"), sb=Sum("b"), sc=Sum("c"))
    return SegmentMeasures(
        customers=customers,
        clv=clv,
        profit=profit,
        revenue=None,
        mean_p_alive=None,
        cells=cells,
        cells_clv=cells_clv,
        lock_in=lock_in,
        mix=mix_from_counts(tiers),
        nps=stats.nps_interval(got["sa"] or 0, got["sb"] or 0, got["sc"] or 0),
        promoters=None,
        referrers=None,
        referred_customers=None,
        value_tiers=values,
        low_alive=None,
        low_alive_clv=None,
        stored=True,
    )


def summary_segment_measures(cond: Q) -> SegmentMeasures:
    """A segment's measures from the SegmentSummary rows that hold it (SegmentFilter.summary_q),
    grouped by cell, engagement tier and value tier: one query over a few thousand rows."""
    names = (
        "customers",
        "lock_in_flagged",
        "clv",
        "profit",
        "revenue",
        "p_alive_sum",
        "p_alive_n",
        "promoters",
        "passives",
        "detractors",
        "referrers",
        "referred_customers",
        "low_alive",
        "low_alive_clv",
    )
    rows = (
        SegmentSummary.objects.filter(cond)
        .values("cell", "engagement_tier", "value_tier")
        .annotate(**{f"s_{n}": Sum(n) for n in names})
        .order_by()
        .values_list("cell", "engagement_tier", "value_tier", *[f"s_{n}" for n in names])
    )
    total = dict.fromkeys(names, 0.0)
    cells = dict.fromkeys(CELLS, 0)
    cells_clv = dict.fromkeys(CELLS, 0.0)
    tiers: dict[str, int] = {}
    values: dict[str, int | None] = dict.fromkeys(VALUE_TIER_NAMES, 0)
    for cell, tier, value, *sums in rows:
        got = dict(zip(names, (v or 0 for v in sums), strict=True))
        for n in names:
            total[n] += got[n]
        cells[cell] = cells.get(cell, 0) + int(got["customers"])
        cells_clv[cell] = cells_clv.get(cell, 0.0) + float(got["clv"])
        if tier:
            tiers[tier] = tiers.get(tier, 0) + int(got["customers"])
        values[value] = (values.get(value) or 0) + int(got["customers"])
    n_alive = int(total["p_alive_n"])
    return SegmentMeasures(
        customers=int(total["customers"]),
        clv=float(total["clv"]),
        profit=float(total["profit"]),
        revenue=float(total["revenue"]),
        mean_p_alive=(total["p_alive_sum"] / n_alive) if n_alive else None,
        cells=cells,
        cells_clv=cells_clv,
        lock_in=int(total["lock_in_flagged"]),
        mix=mix_from_counts(tiers),
        nps=stats.nps_interval(
            int(total["promoters"]), int(total["passives"]), int(total["detractors"])
        ),
        promoters=int(total["promoters"]),
        referrers=int(total["referrers"]),
        referred_customers=int(total["referred_customers"]),
        value_tiers=values,
        low_alive=int(total["low_alive"]),
        low_alive_clv=float(total["low_alive_clv"]),
    )


def segment_measures(qs: QuerySet[CustomerInsight]) -> SegmentMeasures:
    """Everything the segment explorer shows about filtered customers: one aggregate query."""
    money = {"output_field": FloatField()}
    aggregates: dict[str, Any] = {
        "customers": Count("pk"),
        "clv_sum": Coalesce(Sum("clv"), 0.0, **money),
        "profit_sum": Coalesce(Sum("profit"), 0.0, **money),
        "revenue_sum": Coalesce(Sum("revenue"), 0.0, **money),
        "alive_sum": Sum("p_alive"),
        "alive_n": Count("p_alive"),
        "lock_in": Count("pk", filter=Q(lock_in_flag=True)),
        "promoters": Count("pk", filter=Q(nps_class="promoter")),
        "passives": Count("pk", filter=Q(nps_class="passive")),
        "detractors": Count("pk", filter=Q(nps_class="detractor")),
        "referrers": Count("pk", filter=Q(referrals__gt=0)),
        "referred": Coalesce(Sum("referred_customers"), 0),
        "low_alive": Count("pk", filter=Q(p_alive__lt=LOW_P_ALIVE)),
        "low_alive_clv": Coalesce(Sum("clv", filter=Q(p_alive__lt=LOW_P_ALIVE)), 0.0, **money),
    }
    for cell in CELLS:
        aggregates[f"cell_{cell}"] = Count("pk", filter=Q(matrix_cell=cell))
        aggregates[f"clv_{cell}"] = Coalesce(Sum("clv", filter=Q(matrix_cell=cell)), 0.0, **money)
    for tier in scoring.TIERS:
        aggregates[f"tier_{tier}"] = Count("pk", filter=Q(engagement_tier=tier))
    for vt in VALUE_TIER_NAMES:
        aggregates[f"value_{vt}"] = Count("pk", filter=Q(value_tier=vt))
    got = qs.aggregate(**aggregates)
    return SegmentMeasures(
        customers=got["customers"],
        clv=got["clv_sum"],
        profit=got["profit_sum"],
        revenue=got["revenue_sum"],
        mean_p_alive=(got["alive_sum"] / got["alive_n"]) if got["alive_n"] else None,
        cells={c: got[f"cell_{c}"] for c in CELLS},
        cells_clv={c: got[f"clv_{c}"] for c in CELLS},
        lock_in=got["lock_in"],
        mix=mix_from_counts({t: got[f"tier_{t}"] for t in scoring.TIERS}),
        nps=stats.nps_interval(got["promoters"], got["passives"], got["detractors"]),
        promoters=got["promoters"],
        referrers=got["referrers"],
        referred_customers=got["referred"],
        value_tiers={vt: got[f"value_{vt}"] for vt in VALUE_TIER_NAMES},
        low_alive=got["low_alive"],
        low_alive_clv=got["low_alive_clv"],
    )


def customer_rows(qs: QuerySet[CustomerInsight]) -> QuerySet:
    """The columns of a drill-down list, most valuable first (values, not model objects)."""
    return qs.order_by("-clv", "customer_id").values(
        "customer_id",
        "customer__display_name",
        "home_unit__name",
        "matrix_cell",
        "retention_state",
        "engagement_tier",
        "nps_score",
        "value_tier",
        "clv",
        "p_alive",
        "visits",
        "last_visit",
        "days_since_visit",
        "lock_in_flag",
        "referrals",
        "referred_customers",
    )


def by_value_tier_page(flt: SegmentFilter, start: int, size: int) -> tuple[list[dict], int]:
    """One page of everyone (or of a unit) ordered by value tier, platinum first, then lifetime
    value, and the total: walks the (value_tier, −clv) index tier by tier instead of sorting
    the whole table by lifetime value. Totals come from MatrixSummary; a unit's tier is counted
    (on the (home_unit, value_tier) index) only when a deep page skips over all of it."""
    base = CustomerInsight.objects.filter(flt.q())
    counts: dict[str, int] | None = None
    if flt.unit is None:
        counts = dict(
            MatrixSummary.objects.filter(dimension="value_tier")
            .values("key")
            .annotate(n=Sum("customers"))
            .order_by()
            .values_list("key", "n")
        )
        total = sum(counts.values())
    else:
        total = stored_count(flt) or 0
    rows: list[dict] = []
    offset, need = start, size
    for tier in VALUE_TIER_NAMES:
        if counts is not None and offset >= counts.get(tier, 0):
            offset -= counts.get(tier, 0)
            continue
        got = list(customer_rows(base.filter(value_tier=tier))[offset : offset + need])
        if got:
            rows.extend(got)
            need -= len(got)
            offset = 0
        elif offset:  # the page lies past this tier: skip all of it
            inside = CustomerInsight.objects.filter(flt.q(unit_ids=True), value_tier=tier)
            offset = max(offset - inside.count(), 0)
        if need <= 0:
            break
    return rows, total


def stored_count(flt: SegmentFilter) -> int | None:
    """The number of customers a filter matches when the summary tables hold it (a cell or
    value tier, for everyone or a unit), else None: lists then skip a COUNT over the table."""
    p = flt.params()
    names = set(p) - {"unit"}
    dimension, key = ("unit", p["unit"]) if "unit" in p else ("all", "")
    if names == {"cell"}:
        qs = MatrixSummary.objects.filter(dimension=dimension, key=key, cell=flt.cell)
    elif names == {"retention"}:
        qs = MatrixSummary.objects.filter(
            dimension=dimension, key=key, retention_state=flt.retention
        )
    elif names == {"tier"} and flt.tier != "none":
        qs = MatrixSummary.objects.filter(dimension=dimension, key=key, engagement_tier=flt.tier)
    elif names == {"value"} and dimension == "all":
        qs = MatrixSummary.objects.filter(dimension="value_tier", key=flt.value)
    elif not names:
        qs = MatrixSummary.objects.filter(dimension=dimension, key=key)
    else:
        return _summary_count(flt)
    return qs.aggregate(n=Coalesce(Sum("customers"), 0))["n"]


def _summary_count(flt: SegmentFilter) -> int | None:
    """The count from SegmentSummary: a filter of its keys, optionally with low P(alive) or
    value at risk (the at-risk cell plus low P(alive) elsewhere); else None."""
    names = set(flt.params())
    flags = names & {"low_alive", "at_risk_value"}
    if len(flags) > 1:
        return None
    cond = replace(flt, low_alive=False, at_risk_value=False).summary_q()
    if cond is None:
        return None
    if "low_alive" in flags:
        total = Coalesce(Sum("low_alive"), 0)
    elif "at_risk_value" in flags:
        total = Coalesce(Sum("customers", filter=Q(cell="at_risk")), 0) + Coalesce(
            Sum("low_alive", filter=~Q(cell="at_risk")), 0
        )
    else:
        total = Coalesce(Sum("customers"), 0)
    n = SegmentSummary.objects.filter(cond).aggregate(n=total)["n"]
    return n or 0
