"""Segments of customers: the filters the explorer and the drill-down lists share
(`SegmentFilter`), a segment's measures and its count — from the SegmentSummary slice that
holds it when there is one, else one aggregate over its CustomerInsight rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Count, Exists, FloatField, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from rapport.insights import summaries
from rapport.insights.models import (
    CustomerAttributeValue,
    CustomerInsight,
    MatrixSummary,
    ScoreSummary,
    SegmentSummary,
)
from rapport.insights.queries import (
    CELLS,
    LOW_P_ALIVE,
    TREND_MONTHS,
    VALUE_TIER_NAMES,
    VISITS_BANDS,
    Mix,
    cell_labels,
    mix_from_counts,
    month_first_day,
    summary_unit,
    tier_labels,
    value_tier_labels,
)
from rapport.org.models import OrgUnit
from rapport.surveys import scoring, stats

ATTRIBUTE_SUMMARY_FILTERS = {
    "unit",
    "cell",
    "retention",
    "tier",
    "value",
    "attribute",
    "attribute_value",
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

    def q(self, unit_ids: bool = False, prefix: str = "") -> Q:
        """The conditions on CustomerInsight (or, with `prefix` "insight__", on the rows that
        refer to it). A unit is a join on the unit's path, which lets SQLite walk the (cell or
        tier, −clv) indexes in order and stop at a page; `unit_ids` makes it `home_unit IN
        (subtree)` instead, checked on the entries of the indexes that hold home_unit. An
        attribute is a join on the job's CustomerAttributeValue rows (an index; with a small
        flag, an EXISTS on them), not a lookup in every customer's JSON."""

        def on(**lookups: Any) -> Q:
            return Q(**{prefix + k: v for k, v in lookups.items()})

        cond = Q()
        if self.unit is not None and unit_ids:
            cond &= on(home_unit__in=OrgUnit.objects.filter(path__startswith=self.unit.path))
        elif self.unit is not None:
            cond &= on(home_unit__path__startswith=self.unit.path)
        if self.cell:
            cond &= on(matrix_cell=self.cell)
        if self.retention:
            cond &= on(retention_state=self.retention)
        if self.tier:
            cond &= on(engagement_tier="" if self.tier == "none" else self.tier)
        if self.value:
            cond &= on(value_tier=self.value)
        if self.lock_in:
            cond &= on(lock_in_flag=True)
        if self.low_alive:
            cond &= on(p_alive__lt=LOW_P_ALIVE)
        if self.at_risk_value:
            cond &= on(matrix_cell="at_risk") | on(p_alive__lt=LOW_P_ALIVE)
        if self.promoters:
            cond &= on(nps_class="promoter")
        if self.referrers:
            cond &= on(referrals__gt=0)
        if self.visits in VISITS_BANDS:
            low, high = VISITS_BANDS[self.visits]
            if low:
                cond &= on(visits_per_year__gte=low)
            else:  # no service visit counted is "0–2" too
                cond &= on(visits_per_year__isnull=True) | on(visits_per_year__lt=high)
            if low and high is not None:
                cond &= on(visits_per_year__lt=high)
        if self.model_year_from is not None:
            cond &= on(model_year__gte=self.model_year_from)
        if self.model_year_to is not None:
            cond &= on(model_year__lte=self.model_year_to)
        if self.attribute and not prefix and self.flag_names - {"low_alive"}:
            # Promoters, referrers, lock-in: a few % of the base, walked on their partial
            # index, each looked up among the value's (attribute, value, insight) entries —
            # not every customer of the value joined (a quarter of the base for a common one).
            cond &= Exists(
                CustomerAttributeValue.objects.filter(
                    insight=OuterRef("pk"),
                    attribute=self.attribute,
                    value=attribute_text(self.attribute_value),
                )
            )
        elif self.attribute:
            cond &= on(
                attribute_values__attribute=self.attribute,
                attribute_values__value=attribute_text(self.attribute_value),
            )
        return cond

    @property
    def flag_names(self) -> set[str]:
        """The per-customer flags set, by summaries.FLAG_NAMES (value at risk aside)."""
        names = {"lock_in": self.lock_in, "low_alive": self.low_alive}
        names |= {"promoter": self.promoters, "referrer": self.referrers}
        return {n for n, on in names.items() if on}

    def without_attribute(self) -> SegmentFilter:
        return replace(self, attribute="", attribute_value=None)

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
        """The conditions on SegmentSummary rows when a slice holds the filter, else None: any
        mix of its keys (unit, cell, retention, engagement tier, value tier, visits band, model
        years), also with low P(alive) or value at risk; any flags with unit, cell, retention
        and tiers (the slice of those flags; value at risk is the at-risk cell plus the
        low-P(alive) slice elsewhere); or an attribute
        value with the same (its slice, if the job summarized that value:
        attribute_summarized)."""
        names = set(self.params())
        flags = self.flag_names
        fine = bool(self.visits) or self.model_year_from is not None
        fine = fine or self.model_year_to is not None
        if fine and (self.attribute or not flags <= {summaries.FINE_FLAGS}):
            return None  # only the "" and low P(alive) slices have rows by visits band, year
        if self.attribute:
            if not names <= ATTRIBUTE_SUMMARY_FILTERS:
                return None
            cond = summary_unit(
                self.unit, attribute=self.attribute, value=attribute_text(self.attribute_value)
            )
        elif self.at_risk_value and "low_alive" not in flags:  # the low-P(alive) slice covers it
            keys = [summaries.flags_key(flags), summaries.flags_key(flags | {"low_alive"})]
            at_risk = Q(cell="at_risk") & Q(flags=keys[0])
            low = ~Q(cell="at_risk") & Q(flags=keys[1])
            cond = summary_unit(self.unit, flags=None, fine=fine)
            cond &= Q(flags__in=keys) & (at_risk | low)
        else:
            cond = summary_unit(self.unit, flags=summaries.flags_key(flags), fine=fine)
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
        period_start__gte=month_first_day(today, months - 1),
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
    names = summaries.SEGMENT_SUMS  # the columns the job adds up per summary row
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


def attribute_text(value: Any) -> str:
    """An attribute value as CustomerAttributeValue stores it (loads.attribute_sql)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def attribute_summarized(flt: SegmentFilter) -> bool:
    """Whether the job gave the filter's attribute value SegmentSummary rows (held by
    summaries.ATTRIBUTE_SUMMARY_MIN customers or more at the last full run)."""
    return SegmentSummary.objects.filter(
        attribute=flt.attribute, attribute_value=attribute_text(flt.attribute_value)
    ).exists()


def attribute_rows(flt: SegmentFilter) -> QuerySet:
    """The CustomerAttributeValue rows of the filter's attribute value whose customers match
    the rest of the filter (a join only when there is a rest)."""
    qs = CustomerAttributeValue.objects.filter(
        attribute=flt.attribute, value=attribute_text(flt.attribute_value)
    )
    rest = flt.without_attribute()
    return qs if rest.is_empty else qs.filter(rest.q(prefix="insight__"))


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
    """The count from the SegmentSummary slice that holds the filter; for an attribute value
    the job did not summarize (fewer than ATTRIBUTE_SUMMARY_MIN customers), a count of its
    CustomerAttributeValue rows; else None."""
    if flt.attribute and not attribute_summarized(flt):
        return attribute_rows(flt).count()
    cond = flt.summary_q()
    if cond is None:
        return None
    return SegmentSummary.objects.filter(cond).aggregate(n=Coalesce(Sum("customers"), 0))["n"]
