"""A dashboard's figures as tables and charts, built once from the summary tables and shown by
the page, the CSV, PNG and PDF exports alike (rapport.insights.{queries,export,charts})."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.insights import benchmarks, economics, queries, segmentation
from rapport.insights.charts import ChartSpec, Series
from rapport.insights.export import Column, Table
from rapport.insights.models import RecomputeRun
from rapport.surveys import scoring, stats


def customers_url(**params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "", False)}
    return reverse("insights:customers") + ("?" + urlencode(clean) if clean else "")


def reference_date(run: RecomputeRun | None) -> dt.date:
    """The day the figures are as of: the last run's, else today."""
    if run is None:
        return timezone.localdate()
    return timezone.localdate(run.as_of)


@dataclass
class Dashboard:
    scope: queries.Scope
    run: RecomputeRun | None
    today: dt.date
    trend: queries.Trend
    mix: queries.Mix
    competitors: list
    matrix: queries.MatrixGrid
    value_tiers: list[queries.ValueTier] | None
    at_risk: queries.ValueAtRisk
    complaints: list[tuple[dt.date, int]]
    drivers: list
    figures: dict[str, dict]
    what_if: economics.RetentionWhatIf | None
    peers: list[queries.PeerRow] = field(default_factory=list)
    units: list[queries.PeerRow] = field(default_factory=list)

    def link(self, **params: Any) -> str:
        if self.scope.unit is not None:
            params["unit"] = self.scope.unit.pk
        return customers_url(**params)


def build(
    scope: queries.Scope,
    user_path: str,
    inputs: economics.EconomicsInputs | None = None,
    change_points: float = 5.0,
    figures: dict[str, dict] | None = None,
) -> Dashboard:
    """Every figure of the overview (scope = enterprise) or of a unit view."""
    run = queries.last_run()
    today = reference_date(run)
    trend = queries.trend(scope, today)
    mix = queries.engagement_mix(scope)
    matrix, tiers = queries.matrix_and_tiers(scope)
    scope_tiers, at_risk = queries.value_and_risk(scope)
    if figures is None:
        figures = queries.figures()
    stored_inputs = queries.economics_inputs(figures.get("economics"))
    chosen = inputs or stored_inputs
    what_if = None
    if chosen is not None:
        try:
            what_if = economics.retention_what_if(chosen, change_points)
        except ValueError:
            what_if = None
    dash = Dashboard(
        scope=scope,
        run=run,
        today=today,
        trend=trend,
        mix=mix,
        competitors=queries.competitors(mix, trend.last_year.get("nps")),
        matrix=matrix,
        value_tiers=tiers if tiers is not None else scope_tiers,
        at_risk=at_risk,
        complaints=queries.complaint_trend(scope, today),
        drivers=queries.driver_rows() if scope.unit is None else [],
        figures=figures,
        what_if=what_if,
    )
    if scope.unit is not None and scope.unit.parent_id:
        dash.peers = queries.peers(scope.unit, today)
    children = queries.child_units(scope.unit, user_path)
    if children:
        dash.units = queries.peer_rows(children, today)
    return dash


# --- Tables ---------------------------------------------------------------------------------


def _interval_cells(i: stats.Interval | None) -> list[Any]:
    if i is None:
        return [None, None, None, 0]
    return [i.estimate, i.low, i.high, i.n]


def tables(dash: Dashboard) -> dict[str, Table]:
    tl, cl, vl = queries.tier_labels(), queries.cell_labels(), queries.value_tier_labels()
    out: dict[str, Table] = {}
    world, average = dash.mix.references[0], dash.mix.references[1]
    out["mix"] = Table(
        "mix",
        _("Engagement mix against benchmarks"),
        [
            Column(_("Tier")),
            Column(_("Customers"), "int"),
            Column(_("Our share"), "share"),
            Column(_low95(), "share"),
            Column(_high95(), "share"),
            Column(world[0].label, "share"),
            Column(average[0].label, "share"),
            Column(_("Ours − world-class (points)"), "points"),
            Column(_("Ours − average (points)"), "points"),
        ],
        [
            [
                tl[t],
                dash.mix.counts[t],
                *(_interval_cells(dash.mix.shares[t])[:3]),
                world[1][i].reference,
                average[1][i].reference,
                None if world[1][i].difference is None else 100 * world[1][i].difference,
                None if average[1][i].difference is None else 100 * average[1][i].difference,
            ]
            for i, t in enumerate(scoring.TIERS)
        ],
        links=[dash.link(tier=t) for t in scoring.TIERS],
        flagged=[dash.mix.n < stats.SMALL_SAMPLE] * 4,
        note=f"{benchmarks.OUR_TIERS_LABEL}. {_('Source')}: {benchmarks.GALLUP_SOURCE}",
    )
    out["competitors"] = Table(
        "competitors",
        _("Competitors' figures"),
        [
            Column(_("Competitor")),
            Column(_("Period")),
            Column(_("Source")),
            Column(_("Respondents"), "int"),
            Column(_("Fully engaged"), "share"),
            Column(_("Ours − theirs (points)"), "points"),
            Column(_("p-value"), "p"),
            Column(_("NPS"), "score"),
            Column(_("Our NPS − theirs"), "points"),
        ],
        [
            [
                row.name,
                row.period,
                row.source,
                row.n,
                cmp.fully_engaged,
                None
                if cmp.fully_engaged_difference is None
                else 100 * cmp.fully_engaged_difference,
                None if cmp.fully_engaged_test is None else cmp.fully_engaged_test.p_value,
                cmp.nps,
                cmp.nps_difference,
            ]
            for row, cmp in dash.competitors
        ],
        links=[reverse("insights:benchmark_edit", args=[row.pk]) for row, _c in dash.competitors],
        note=_("Without the competitor's number of respondents only the difference is shown."),
    )
    labels = queries.measure_labels()
    trend_rows, trend_flags = [], []
    for m in queries.TREND_MEASURES:
        for p in dash.trend.points[m]:
            if p.interval is None:
                continue
            trend_rows.append(
                [p.period_start.strftime("%Y-%m"), labels[m], *_interval_cells(p.interval)]
            )
            trend_flags.append(p.interval.small_sample)
    out["trend"] = Table(
        "trend",
        # xgettext:no-python-format
        _("Scores by month with 95% intervals"),
        [
            Column(_("Month")),
            Column(_("Measure")),
            Column(_("Score"), "score"),
            Column(_low95(), "score"),
            Column(_high95(), "score"),
            Column(_("Responses"), "int"),
        ],
        trend_rows,
        flagged=trend_flags,
        note=_("NPS in points (−100 to 100); CSAT as a share; CES and CSI as means."),
    )
    out["complaints"] = Table(
        "complaints",
        _("Complaints by week"),
        [Column(_("Week starting"), "date"), Column(_("Complaints"), "int")],
        [[week, n] for week, n in dash.complaints],
    )
    out["matrix"] = matrix_table(dash.matrix, dash.link)
    if dash.value_tiers is not None:
        out["value_tiers"] = Table(
            "value_tiers",
            _("Value tiers"),
            [
                Column(_("Value tier")),
                Column(_("Customers"), "int"),
                Column(_("Lifetime value"), "money"),
                Column(_("Profit contribution"), "money"),
                Column(_("At risk"), "int"),
                Column(_("Lifetime value at risk"), "money"),
            ],
            [
                [
                    vl.get(t.tier, t.tier),
                    t.customers,
                    t.clv,
                    t.profit,
                    t.at_risk_customers,
                    t.at_risk_clv,
                ]
                for t in dash.value_tiers
            ],
            links=[dash.link(value=t.tier) for t in dash.value_tiers],
        )
    var = dash.at_risk
    out["value_at_risk"] = Table(
        "value_at_risk",
        _("Value at risk"),
        [Column(_("Customers")), Column(_("Count"), "int"), Column(_("Lifetime value"), "money")],
        [
            [cl["at_risk"], var.customers, var.clv],
            [
                _("Low P(alive) (< %(p)s) in the other cells") % {"p": queries.LOW_P_ALIVE},
                var.low_alive_customers,
                var.low_alive_clv,
            ],
            [_("Value at risk"), var.total_customers, var.total_clv],
        ],
        links=[dash.link(cell="at_risk"), dash.link(low_alive=1), dash.link(at_risk_value=1)],
    )
    out["drivers"] = drivers_table(dash.drivers)
    out["referrals"] = referrals_table(dash.figures.get("referrals"), dash.link)
    out["economics"] = economics_table(dash.what_if)
    if dash.peers:
        out["peers"] = peers_table("peers", _("Rank among peer units"), dash.peers)
    if dash.units:
        out["units"] = peers_table("units", _("Units"), dash.units)
    return out


def matrix_table(matrix: queries.MatrixGrid, link) -> Table:  # noqa: ANN001
    cl = queries.cell_labels()
    return Table(
        "matrix",
        _("Retention against loyalty"),
        [
            Column(_("Cell")),
            Column(_("Customers"), "int"),
            Column(_("Share"), "share"),
            Column(_("Returns follow lock-ins"), "int"),
            Column(_("Lifetime value"), "money"),
            Column(_("Profit contribution"), "money"),
        ],
        [
            [cl[c.cell], c.customers, c.share, c.lock_in_flagged, c.clv, c.profit]
            for c in matrix.cells.values()
        ],
        links=[link(cell=c) for c in matrix.cells],
        note=_(
            "Locked in: retained but indifferent or actively disengaged — keeps buying, feels "
            "nothing. Flagged when their returns cluster after points or contract events."
        ),
    )


def drivers_table(rows: list) -> Table:
    ctx = queries.context_labels()
    targets = {"recommend": _("Likelihood to recommend"), "engagement": _("Engagement")}
    return Table(
        "drivers",
        _("Drivers"),
        [
            Column(_("Survey")),
            Column(_("Target")),
            Column(_("Context")),
            Column(_("Driver")),
            Column(_("Responses"), "int"),
            Column(_("R²"), "score"),
            Column(_("Relative weight"), "share"),
            Column(_low95(), "share"),
            Column(_high95(), "share"),
            Column(_("β"), "score"),
            Column(_("p (Holm)"), "p"),
            Column(_("Significant"), "bool"),
        ],
        [
            [
                r.survey.name if r.survey else "",
                targets.get(r.target, r.target),
                f"{ctx.get(r.context_kind, r.context_kind)}"
                + (f": {r.context_value}" if r.context_value else ""),
                r.driver or (_("Too few responses") if r.status == "too_few" else r.status),
                r.n,
                r.r2,
                r.weight,
                r.low,
                r.high,
                r.beta,
                r.p_value,
                r.significant,
            ]
            for r in rows
        ],
        flagged=[r.status != "ok" for r in rows],
        note=_(
            "Relative weight: the share of the target's variance a driver accounts for, with a "
            "95% bootstrap interval. A context needs 50 complete responses and 10 per driver."
        ),
    )


def referrals_table(value: dict | None, link) -> Table:  # noqa: ANN001
    v = value or {}
    rows = [
        [_("New customers in the last year"), v.get("new_customers"), "int"],
        [_("Share referred"), v.get("share"), "share"],
        [_low95(), v.get("low"), "share"],
        [_high95(), v.get("high"), "share"],
        [_("Customers who referred someone"), v.get("referrers"), "int"],
        [_("Customers they brought"), v.get("referred_customers"), "int"],
        [_("Lifetime value of those customers"), v.get("referred_value"), "money"],
    ]
    from rapport.insights.export import display

    return Table(
        "referrals",
        _("Advocates and referrals"),
        [Column(_("Figure")), Column(_("Value"))],
        [[label, display(val, kind)] for label, val, kind in rows],
        links=[None, None, None, None, link(referrers=1), None, None],
        # xgettext:no-python-format
        note=_("Seed 002 reports that 60% of new customers come from referrals."),
    )


def economics_table(what_if: economics.RetentionWhatIf | None) -> Table:
    from rapport.insights.export import display

    rows: list[list[Any]] = []
    if what_if is not None:
        i = what_if.inputs
        rows = [
            [_("Yearly retention (r)"), display(i.retention_rate, "share")],
            [_("Yearly margin per customer (m)"), display(i.annual_margin, "money")],
            [_("Active customers (N)"), display(i.active_customers, "int")],
            [_("Discount rate (d)"), display(i.discount_rate, "share")],
            [_("Change in retention (points)"), display(what_if.change_points, "points")],
            [_("Value per customer now"), display(what_if.value_per_customer, "money")],
            [_("Value per customer after"), display(what_if.value_per_customer_after, "money")],
            [_("Change in customer value"), display(what_if.profit_change, "share")],
            [_("Value of the customer base now"), display(what_if.base_value, "money")],
            [_("Worth of the change"), display(what_if.worth, "money")],
        ]
    return Table(
        "economics",
        _("What retention is worth"),
        [Column(_("Assumption or result")), Column(_("Value"))],
        rows,
        note=_(
            "Value per customer = m × (1 + d) / (1 + d − r) (Gupta & Lehmann 2003). Reichheld "
            "quotes +25–85% profit for +5 points of retention."
        ),
    )


def peers_table(key: str, title: str, rows: list[queries.PeerRow]) -> Table:
    return Table(
        key,
        title,
        [
            Column(_("Unit")),
            Column(_("NPS, last 12 months"), "score"),
            Column(_low95(), "score"),
            Column(_high95(), "score"),
            Column(_("Responses"), "int"),
            Column(_("Rank on NPS"), "int"),
            Column(_("Fully engaged"), "share"),
            Column(_low95(), "share"),
            Column(_high95(), "share"),
            Column(_("Rank on engagement"), "int"),
        ],
        [
            [
                r.unit.name,
                *_interval_cells(r.nps),
                r.nps_rank,
                *_interval_cells(r.engaged_share)[:3],
                r.engaged_rank,
            ]
            for r in rows
        ],
        links=[reverse("insights:unit", args=[r.unit.pk]) for r in rows],
        flagged=[r.nps is None or r.nps.small_sample for r in rows],
        note=_(
            "Comparing many units finds some differences by chance: overlapping intervals mean "
            "the ranks may not differ."
        ),
    )


# --- Charts ---------------------------------------------------------------------------------


def chart_specs(dash: Dashboard) -> dict[str, ChartSpec]:
    tl = queries.tier_labels()
    out: dict[str, ChartSpec] = {}
    series = [
        Series(
            _("Ours"),
            [dash.mix.shares[t].estimate if dash.mix.shares[t] else None for t in scoring.TIERS],
            [dash.mix.shares[t].low if dash.mix.shares[t] else None for t in scoring.TIERS],
            [dash.mix.shares[t].high if dash.mix.shares[t] else None for t in scoring.TIERS],
        )
    ]
    for ref, _cmp in dash.mix.references:
        series.append(Series(str(ref.label), [ref.shares[t] for t in scoring.TIERS]))
    for row, _cmp in dash.competitors:
        shares = [row.fully_engaged, row.engaged, row.indifferent, row.actively_disengaged]
        if any(s is not None for s in shares):
            series.append(Series(f"{row.name} {row.period}", shares))
    out["mix"] = ChartSpec(
        "mix",
        _("Engagement mix against benchmarks"),
        "bar",
        [str(tl[t]) for t in scoring.TIERS],
        series,
        links=[dash.link(tier=t) for t in scoring.TIERS],
        percent=True,
        y_label=_("Share of customers"),
        note=str(benchmarks.OUR_TIERS_LABEL),
    )
    labels = queries.measure_labels()
    months = [m.strftime("%Y-%m") for m in dash.trend.months]
    for m in queries.TREND_MEASURES:
        points = dash.trend.points[m]
        share = m == "csat"
        out[f"trend_{m}"] = ChartSpec(
            f"trend_{m}",
            str(labels[m]),
            "line",
            months,
            [
                Series(
                    str(labels[m]),
                    [p.interval.estimate if p.interval else None for p in points],
                    [p.interval.low if p.interval else None for p in points],
                    [p.interval.high if p.interval else None for p in points],
                )
            ],
            percent=share,
            flagged=[bool(p.interval and p.interval.small_sample) for p in points],
            # xgettext:no-python-format
            note=_("Bars: 95% intervals. * small sample (n < 30)."),
        )
    if dash.complaints:
        out["complaints"] = ChartSpec(
            "complaints",
            _("Complaints by week"),
            "bar",
            [w.isoformat() for w, _n in dash.complaints],
            [Series(_("Complaints"), [float(n) for _w, n in dash.complaints])],
        )
    cl = queries.cell_labels()
    cells = [c for c in dash.matrix.cells.values()]
    out["matrix"] = ChartSpec(
        "matrix",
        _("Retention against loyalty"),
        "hbar",
        [str(cl[c.cell]) for c in cells],
        [Series(_("Customers"), [float(c.customers) for c in cells])],
        links=[dash.link(cell=c.cell) for c in cells],
        y_label=_("Customers"),
    )
    vl = queries.value_tier_labels()
    if dash.value_tiers is None:
        by_cell = [c for c in cells if c.clv]
        out["value_cells"] = ChartSpec(
            "value_cells",
            _("Lifetime value by retention × loyalty cell"),
            "bar",
            [str(cl[c.cell]) for c in by_cell],
            [Series(_("Lifetime value"), [c.clv for c in by_cell])],
            links=[dash.link(cell=c.cell) for c in by_cell],
        )
        return _rest_of_charts(dash, out)
    out["value_tiers"] = ChartSpec(
        "value_tiers",
        _("Lifetime value by value tier"),
        "bar",
        [str(vl.get(t.tier, t.tier)) for t in dash.value_tiers],
        [
            Series(_("Lifetime value"), [t.clv for t in dash.value_tiers]),
            Series(_("Lifetime value at risk"), [t.at_risk_clv for t in dash.value_tiers]),
        ],
        links=[dash.link(value=t.tier) for t in dash.value_tiers],
    )
    return _rest_of_charts(dash, out)


def _rest_of_charts(dash: Dashboard, out: dict[str, ChartSpec]) -> dict[str, ChartSpec]:
    top = [r for r in dash.drivers if r.status == "ok" and r.context_kind == "all"][:12]
    if top:
        targets = {"recommend": _("Recommend"), "engagement": _("Engagement")}
        out["drivers"] = ChartSpec(
            "drivers",
            _("What moves recommending and engagement"),
            "hbar",
            [f"{targets.get(r.target, r.target)}: {r.driver}" for r in top],
            [
                Series(
                    _("Relative weight"),
                    [r.weight for r in top],
                    [r.low for r in top],
                    [r.high for r in top],
                )
            ],
            percent=True,
            y_label=_("Share of variance (95% bootstrap interval)"),
        )
    for key, rows, title in (
        ("peers", dash.peers, _("NPS against peer units")),
        ("units", dash.units, _("NPS by unit")),
    ):
        if rows:
            out[key] = ChartSpec(
                key,
                title,
                "hbar",
                [r.unit.name for r in rows],
                [
                    Series(
                        _("NPS"),
                        [r.nps.estimate if r.nps else None for r in rows],
                        [r.nps.low if r.nps else None for r in rows],
                        [r.nps.high if r.nps else None for r in rows],
                    )
                ],
                links=[reverse("insights:unit", args=[r.unit.pk]) for r in rows],
                flagged=[r.nps is None or r.nps.small_sample for r in rows],
                # xgettext:no-python-format
                y_label=_("NPS, last 12 months (95% interval)"),
            )
    return out


# --- Segments -------------------------------------------------------------------------------


def segment_tables(m: segmentation.SegmentMeasures, link) -> dict[str, Table]:  # noqa: ANN001
    tl, cl, vl = queries.tier_labels(), queries.cell_labels(), queries.value_tier_labels()
    nps = m.nps
    summary = Table(
        "segment",
        _("Segment measures"),
        [
            Column(_("Measure")),
            Column(_("Value"), "score"),
            Column(_low95(), "score"),
            Column(_high95(), "score"),
            Column(_("n"), "int"),
        ],  # fmt: skip
        [
            [_("Customers"), m.customers, None, None, m.customers],
            [_("Lifetime value (sum)"), m.clv, None, None, m.customers],
            [_("Profit contribution (sum)"), m.profit, None, None, m.customers],
            [_("Revenue (sum)"), m.revenue, None, None, m.customers],
            [_("Mean P(alive)"), m.mean_p_alive, None, None, m.customers],
            [
                _("NPS (responses, last 12 months)") if m.stored else _("NPS (latest answers)"),
                *_interval_cells(nps),
            ],
            [_("Promoters"), m.promoters, None, None, m.customers],
            [_("Referrers"), m.referrers, None, None, m.customers],
            [_("Customers they brought"), m.referred_customers, None, None, m.customers],
            [_("Low P(alive)"), m.low_alive, None, None, m.customers],
            [_("Lifetime value with low P(alive)"), m.low_alive_clv, None, None, m.customers],
            [_("Returns follow lock-ins"), m.lock_in, None, None, m.customers],
        ],
        links=[
            link(),
            None,
            None,
            None,
            None,
            None,
            link(promoters=1),
            link(referrers=1),
            None,
            link(low_alive=1),
            None,
            link(lock_in=1),
        ],  # fmt: skip
        flagged=[False] * 5 + [nps is None or nps.small_sample] + [False] * 6,
        note=_(
            "Read from the summary tables: the per-customer extras (—) are computed when the "
            "segment is filtered further."
        )
        if m.stored
        else "",
    )
    cells = Table(
        "segment_matrix",
        _("Retention against loyalty"),
        [
            Column(_("Cell")),
            Column(_("Customers"), "int"),
            Column(_("Share"), "share"),
            Column(_("Lifetime value"), "money"),
        ],  # fmt: skip
        [
            [cl[c], n, (n / m.customers) if m.customers else None, m.cells_clv[c]]
            for c, n in m.cells.items()
        ],
        links=[link(cell=c) for c in m.cells],
    )
    mix = Table(
        "segment_mix",
        _("Engagement mix"),
        [
            Column(_("Tier")),
            Column(_("Customers"), "int"),
            Column(_("Share"), "share"),
            Column(_low95(), "share"),
            Column(_high95(), "share"),
        ],  # fmt: skip
        [[tl[t], m.mix.counts[t], *_interval_cells(m.mix.shares[t])[:3]] for t in scoring.TIERS],
        links=[link(tier=t) for t in scoring.TIERS],
        flagged=[m.mix.n < stats.SMALL_SAMPLE] * 4,
        note=str(benchmarks.OUR_TIERS_LABEL),
    )
    values = Table(
        "segment_value",
        _("Value tiers"),
        [Column(_("Value tier")), Column(_("Customers"), "int"), Column(_("Share"), "share")],
        [
            [vl[t], n, (n / m.customers) if m.customers and n is not None else None]
            for t, n in m.value_tiers.items()
        ],
        links=[link(value=t) for t in m.value_tiers],
    )
    return {t.key: t for t in (summary, cells, mix, values)}


def segment_charts(m: segmentation.SegmentMeasures, link) -> dict[str, ChartSpec]:  # noqa: ANN001
    tl, cl = queries.tier_labels(), queries.cell_labels()
    return {
        "segment_mix": ChartSpec(
            "segment_mix",
            _("Engagement mix"),
            "bar",
            [str(tl[t]) for t in scoring.TIERS],
            [
                Series(
                    _("Segment"),
                    [m.mix.shares[t].estimate if m.mix.shares[t] else None for t in scoring.TIERS],
                    [m.mix.shares[t].low if m.mix.shares[t] else None for t in scoring.TIERS],
                    [m.mix.shares[t].high if m.mix.shares[t] else None for t in scoring.TIERS],
                ),
                *[
                    Series(str(ref.label), [ref.shares[t] for t in scoring.TIERS])
                    for ref in benchmarks.REFERENCES
                ],
            ],
            links=[link(tier=t) for t in scoring.TIERS],
            percent=True,
            note=str(benchmarks.OUR_TIERS_LABEL),
        ),
        "segment_matrix": ChartSpec(
            "segment_matrix",
            _("Retention against loyalty"),
            "hbar",
            [str(cl[c]) for c in m.cells],
            [Series(_("Customers"), [float(n) for n in m.cells.values()])],
            links=[link(cell=c) for c in m.cells],
        ),
    }


def _low95() -> str:
    # xgettext:no-python-format
    return _("95% low")


def _high95() -> str:
    # xgettext:no-python-format
    return _("95% high")
