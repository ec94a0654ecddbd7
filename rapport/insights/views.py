"""The insights dashboards: executive overview, unit view, segment explorer, the customer lists
behind every chart, and their CSV / PNG / PDF exports.

Pages read the job's tables only (rapport.insights.queries for the dashboards, .segmentation
for segments and their counts, .lists for the customer lists); the figures are assembled once
(rapport.insights.views_common) and the page, the CSV, the PNG and the PDF show the same ones.
A unit manager sees their own subtree: another unit is a 404, and the enterprise overview sends
them to their own unit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rapport.core.views import staff_view
from rapport.insights import charts, export, lists, queries, segmentation, views_common
from rapport.insights.forms import CompetitorBenchmarkForm, EconomicsForm, SegmentForm
from rapport.insights.models import CompetitorBenchmark, CustomerInsight
from rapport.org.models import OrgUnit
from rapport.org.scoping import unit_path

VIEW = "insights.view_customerinsight"
CUSTOMERS_PER_PAGE = 50
ECONOMICS_FIELDS = tuple(EconomicsForm.base_fields)


def _user_path(request: HttpRequest) -> str:
    path = unit_path(request.user)
    if path is None:
        raise PermissionDenied
    return path


def _economics(request: HttpRequest, stored: Any) -> tuple[EconomicsForm, Any, float]:
    """The calculator form: the user's assumptions when given (and valid), else ours."""
    if any(name in request.GET for name in ECONOMICS_FIELDS):
        form = EconomicsForm(request.GET)
        if form.is_valid():
            inputs, points = form.inputs()
            return form, inputs, points
        return form, None, 5.0
    return EconomicsForm(initial=EconomicsForm.initial_from(stored)), None, 5.0


def _dashboard(request: HttpRequest, unit: OrgUnit | None) -> tuple[views_common.Dashboard, Any]:
    user_path = _user_path(request)
    figures = queries.figures()
    stored = queries.economics_inputs(figures.get("economics"))
    form, inputs, points = _economics(request, stored)
    dash = views_common.build(queries.Scope(unit), user_path, inputs, points, figures)
    return dash, form


def _scoped_unit(request: HttpRequest, pk: int | str | None) -> OrgUnit | None:
    """The unit of a request (404 outside the user's subtree); None = the enterprise, which a
    user limited to a subtree gets as their own unit instead."""
    user_path = _user_path(request)
    if pk in (None, ""):
        if user_path == "":
            return None
        staff = request.user.staff
        return staff.unit
    try:
        number = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    unit = queries.visible_unit(user_path, number)
    if unit is None:
        raise Http404
    return unit


def _context(request: HttpRequest, dash: views_common.Dashboard, form: EconomicsForm) -> dict:
    tables = views_common.tables(dash)
    specs = views_common.chart_specs(dash)
    scope_params = {"unit": dash.scope.unit.pk} if dash.scope.unit is not None else {}
    economics_params = {k: request.GET[k] for k in ECONOMICS_FIELDS if k in request.GET}
    export_query = urlencode({**scope_params, **economics_params})
    return {
        "dash": dash,
        "tables": tables,
        "charts": {key: charts.to_chartjs(spec) for key, spec in specs.items()},
        "economics_form": form,
        "export_query": export_query,
        "scope_query": urlencode(scope_params),
        "grid": _grid(dash),
        "can_edit_benchmarks": request.user.has_perm("insights.add_competitorbenchmark"),
        "benchmark_source": queries.benchmarks.GALLUP_SOURCE,
        "our_tiers_label": queries.benchmarks.OUR_TIERS_LABEL,
        "referrals": dash.figures.get("referrals") or {},
    }


def _grid(dash: views_common.Dashboard) -> dict:
    """The retention × engagement-tier grid, each count linking to its customers."""
    tiers = [*queries.scoring.TIERS, ""]
    tier_names = {**queries.tier_labels(), "": _("No answer yet")}
    states = list(CustomerInsight.Retention.choices)
    rows = []
    for state, label in states:
        cells = []
        for tier in tiers:
            count = dash.matrix.grid.get((state, tier), 0)
            cells.append(
                {
                    "count": count,
                    "url": dash.link(retention=state, tier=tier or "none"),
                    "cell": _cell_of(state, tier),
                }
            )
        rows.append({"label": label, "cells": cells})
    return {"tiers": [tier_names[t] for t in tiers], "rows": rows}


def _cell_of(state: str, tier: str) -> str:
    if state == "retained":
        if tier in ("fully_engaged", "engaged"):
            return "advocate"
        return "locked_in" if tier else "unmeasured"
    return state


@staff_view(VIEW)
def overview(request: HttpRequest) -> HttpResponse:
    if _user_path(request) != "":
        return redirect("insights:unit", pk=request.user.staff.unit_id)
    dash, form = _dashboard(request, None)
    context = _context(request, dash, form)
    context["title"] = _("Insights")
    return render(request, "insights/overview.html", context)


@staff_view(VIEW)
def unit_view(request: HttpRequest, pk: int) -> HttpResponse:
    unit = _scoped_unit(request, pk)
    dash, form = _dashboard(request, unit)
    context = _context(request, dash, form)
    context["title"] = unit.name
    context["unit"] = unit
    context["ancestors"] = list(
        OrgUnit.objects.filter(pk__in=_ancestor_ids(unit), path__startswith=_user_path(request))
        .order_by("path")
        .values_list("pk", "name")
    )
    return render(request, "insights/unit.html", context)


def _ancestor_ids(unit: OrgUnit) -> list[int]:
    return [int(p) for p in unit.path.strip("/").split("/") if p.isdigit() and int(p) != unit.pk]


# --- Segments and customer lists ------------------------------------------------------------


def _segment(request: HttpRequest) -> tuple[SegmentForm, segmentation.SegmentFilter]:
    user_path = _user_path(request)
    form = SegmentForm(request.GET or None, user_path=user_path)
    if form.is_bound:
        form.is_valid()
    flt = form.segment()
    if flt.unit is None and user_path != "":
        flt.unit = request.user.staff.unit
    return form, flt


def _segment_measures(flt: segmentation.SegmentFilter) -> tuple[segmentation.SegmentMeasures, Any]:
    """The segment's measures — from the summary tables when they hold it (everyone, a unit, a
    value tier: MatrixSummary/ScoreSummary; any mix of unit, cell, retention, tiers, visits band,
    model years and flags, or a summarized attribute value: a SegmentSummary slice), else one
    aggregate over its customers' index entries (a flag's partial covering index, or the
    attribute value's entries joined to ci_segment in customer order) — and its stored
    12-month scores."""
    stored = flt.summary_dimension
    today = views_common.reference_date(queries.last_run())
    measures = None
    if stored is not None:
        measures = segmentation.stored_segment_measures(*stored, today)
    cond = flt.summary_q() if measures is None else None
    if cond is not None and (not flt.attribute or segmentation.attribute_summarized(flt)):
        measures = segmentation.summary_segment_measures(cond)
    if measures is None:
        measures = segmentation.segment_measures(
            CustomerInsight.objects.filter(flt.q(unit_ids=True))
        )
    trend = None
    if stored is not None:
        scope_trend = queries.trend(queries.Scope(segment=stored), today)
        trend = [
            (queries.measure_labels()[m], scope_trend.last_year[m])
            for m in queries.TREND_MEASURES
            if scope_trend.last_year[m] is not None
        ]
    return measures, trend


def _segment_link(flt: segmentation.SegmentFilter):  # noqa: ANN202
    base = flt.params()

    def link(**params: Any) -> str:
        return views_common.customers_url(**{**base, **params})

    return link


@staff_view(VIEW)
def segments(request: HttpRequest) -> HttpResponse:
    form, flt = _segment(request)
    measures, trend = _segment_measures(flt)
    link = _segment_link(flt)
    tables = views_common.segment_tables(measures, link)
    specs = views_common.segment_charts(measures, link)
    return render(
        request,
        "insights/segments.html",
        {
            "title": _("Segment explorer"),
            "form": form,
            "filter": flt,
            "described": flt.describe(),
            "m": measures,
            "tables": tables,
            "charts": {key: charts.to_chartjs(spec) for key, spec in specs.items()},
            "list_url": link(),
            "export_query": urlencode({**flt.params(), "segment": "1"}),
            "trend": trend,
            "our_tiers_label": queries.benchmarks.OUR_TIERS_LABEL,
        },
    )


CUSTOMER_COLUMNS = (
    ("customer_id", "id"),
    ("customer__display_name", "name"),
    ("home_unit__name", "unit"),
    ("matrix_cell", "cell"),
    ("retention_state", "retention"),
    ("engagement_tier", "engagement_tier"),
    ("nps_score", "nps"),
    ("value_tier", "value_tier"),
    ("clv", "lifetime_value"),
    ("p_alive", "p_alive"),
    ("visits", "visits"),
    ("last_visit", "last_visit"),
    ("days_since_visit", "days_since_visit"),
    ("lock_in_flag", "lock_in_flag"),
    ("referrals", "referrals"),
    ("referred_customers", "referred_customers"),
)


@staff_view(VIEW)
def customers(request: HttpRequest) -> HttpResponse:
    form, flt = _segment(request)
    qs = lists.customer_rows(CustomerInsight.objects.filter(flt.q()))
    if request.GET.get("format") == "csv":
        rows = qs.values_list(*[c for c, _h in CUSTOMER_COLUMNS]).iterator(chunk_size=2000)
        return export.streaming_csv(
            [h for _c, h in CUSTOMER_COLUMNS], rows, f"customers-{_slug(flt)}.csv"
        )
    try:
        page_number = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page_number = 1
    start = (page_number - 1) * CUSTOMERS_PER_PAGE
    size = CUSTOMERS_PER_PAGE + 1  # one more says whether there is a next (or previous) page
    # Previous/next links carry a cursor (the edge row), so a deep page walks the index from
    # there instead of skipping `start` rows; a bare ?page=N first counts off the edge row from
    # index entries (lists.offset_page, lists.by_value_tier_page), then walks from it.
    cursor = lists.Cursor.parse(request.GET.get("after")) or lists.Cursor.parse(
        request.GET.get("before"), back=True
    )
    by_tier = set(flt.params()) <= {"unit"}
    if by_tier:  # everyone, or a unit: value tier first, then lifetime value (see queries)
        rows, total = lists.by_value_tier_page(flt, start, size, cursor)
    elif flt.attribute:
        rows = lists.attribute_page(flt, start, size, cursor)
        total = segmentation.stored_count(flt)
    elif cursor is not None:
        rows = lists.keyset_page(qs, cursor, size)
        total = segmentation.stored_count(flt)
    else:
        rows = lists.offset_page(qs, start, size)
        total = segmentation.stored_count(flt)
    if cursor is not None and cursor.back:
        has_previous, has_next = len(rows) > CUSTOMERS_PER_PAGE, True
        rows = rows[-CUSTOMERS_PER_PAGE:]
    else:
        has_previous, has_next = page_number > 1, len(rows) > CUSTOMERS_PER_PAGE
        rows = rows[:CUSTOMERS_PER_PAGE]
    keep = request.GET.copy()
    for name in ("page", "format", "after", "before"):
        keep.pop(name, None)
    base = keep.urlencode()
    prefix = base + ("&" if base else "")
    next_query = previous_query = ""
    if rows and has_next:
        after = lists.Cursor.of(rows[-1], by_tier)
        next_query = prefix + urlencode({"page": page_number + 1, "after": after})
    if rows and has_previous:
        before = lists.Cursor.of(rows[0], by_tier)
        previous_query = prefix + urlencode({"page": max(page_number - 1, 1), "before": before})
    cl, tl = queries.cell_labels(), queries.tier_labels()
    vl = queries.value_tier_labels()
    rl = dict(CustomerInsight.Retention.choices)
    for row in rows:
        row["cell_label"] = cl.get(row["matrix_cell"], row["matrix_cell"])
        row["tier_label"] = tl.get(row["engagement_tier"], "—")
        row["value_label"] = vl.get(row["value_tier"], row["value_tier"])
        row["retention_label"] = rl.get(row["retention_state"], row["retention_state"])
        row["url"] = reverse("customers:detail", args=[row["customer_id"]])
    return render(
        request,
        "insights/customers.html",
        {
            "title": _("Customers"),
            "form": form,
            "described": flt.describe(),
            "rows": rows,
            "page_number": page_number,
            "has_next": has_next,
            "has_previous": has_previous,
            "next_query": next_query,
            "previous_query": previous_query,
            "total": total,
            "pages": None if total is None else max(1, -(-total // CUSTOMERS_PER_PAGE)),
            "base_query": base,
            "csv_query": base + ("&" if base else "") + "format=csv",
            "segment_query": base,
            "by_tier": by_tier,
        },
    )


def _slug(flt: segmentation.SegmentFilter) -> str:
    return slugify("-".join(f"{k}-{v}" for k, v in flt.params().items()))[:80] or "all"


# --- Exports --------------------------------------------------------------------------------


def _export_source(request: HttpRequest) -> tuple[str, dict, dict, str]:
    """(title, tables, chart specs, file stem) of the dashboard the query names: a segment
    (segment=1 and filters), a unit (unit=id) or the enterprise."""
    if request.GET.get("segment"):
        _form, flt = _segment(request)
        measures, _trend = _segment_measures(flt)
        link = _segment_link(flt)
        title = _("Segment") + (
            ": " + ", ".join(f"{k} {v}" for k, v in flt.describe()) if flt.describe() else ""
        )
        return (
            title,
            views_common.segment_tables(measures, link),
            views_common.segment_charts(measures, link),
            "segment-" + _slug(flt),
        )
    unit = _scoped_unit(request, request.GET.get("unit"))
    dash, _form = _dashboard(request, unit)
    title = unit.name if unit is not None else _("Insights overview")
    stem = f"unit-{unit.code}" if unit is not None else "overview"
    return title, views_common.tables(dash), views_common.chart_specs(dash), stem


@staff_view(VIEW)
def table_csv(request: HttpRequest, table: str) -> HttpResponse:
    _title, tables, _specs, stem = _export_source(request)
    if table not in tables:
        raise Http404
    return export.table_csv(tables[table], f"{stem}-{table}.csv")


@staff_view(VIEW)
def chart_png(request: HttpRequest, chart: str) -> HttpResponse:
    _title, _tables, specs, stem = _export_source(request)
    if chart not in specs:
        raise Http404
    response = HttpResponse(charts.png(specs[chart]), content_type="image/png")
    response["Content-Disposition"] = f'attachment; filename="{stem}-{chart}.png"'
    return response


@staff_view(VIEW)
def report_pdf(request: HttpRequest) -> HttpResponse:
    title, tables, specs, stem = _export_source(request)
    run = queries.last_run()
    subtitle = (
        _("Figures as of %(when)s") % {"when": run.as_of.strftime("%Y-%m-%d %H:%M")}
        if run
        else _("No insights run yet")
    )
    body = export.pdf(str(title), subtitle, list(specs.values()), list(tables.values()))
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
    return response


# --- Competitors' figures -------------------------------------------------------------------


@staff_view(VIEW, "insights.add_competitorbenchmark")
def benchmark_new(request: HttpRequest) -> HttpResponse:
    return _benchmark_form(request, CompetitorBenchmark())


@staff_view(VIEW, "insights.change_competitorbenchmark")
def benchmark_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _benchmark_form(request, get_object_or_404(CompetitorBenchmark, pk=pk))


def _benchmark_form(request: HttpRequest, row: CompetitorBenchmark) -> HttpResponse:
    form = CompetitorBenchmarkForm(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        if saved.created_by_id is None:
            saved.created_by = request.user
        saved.save()
        messages.success(request, _("Saved %(name)s.") % {"name": saved})
        return redirect(reverse("insights:overview") + "#benchmarks")
    return render(
        request,
        "insights/benchmark_form.html",
        {"form": form, "row": row, "title": _("Competitor's figures")},
    )


@require_POST
@staff_view(VIEW, "insights.delete_competitorbenchmark")
def benchmark_delete(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(CompetitorBenchmark, pk=pk)
    row.delete()
    messages.success(request, _("Deleted %(name)s.") % {"name": row})
    return redirect(reverse("insights:overview") + "#benchmarks")
