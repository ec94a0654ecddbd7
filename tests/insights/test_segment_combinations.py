"""Segments and lists by any combination of the explorer's filters — an attribute value or a
flag with a visits band, model years, another flag or a unit, which no SegmentSummary slice
holds, and low P(alive) or value at risk with a visits band or model years, which the low
P(alive) slice's fine rows hold — must show exactly the figures of a plain computation over the
customers' rows; and a bare ?page=N must show the rows of that page. On a bench_pages base of
a few thousand customers (every cell, tier and flag), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from rapport.insights import bench_pages, lists, segmentation, summaries
from rapport.insights.models import CustomerInsight
from rapport.insights.queries import LOW_P_ALIVE, VISITS_BANDS
from rapport.org.models import OrgUnit

pytestmark = pytest.mark.django_db(transaction=True)

N = 3_000


@pytest.fixture
def bench(monkeypatch):
    """bench_pages' synthetic base; attribute values held by 150 customers or more get their
    SegmentSummary rows (Camry, the commonest model, is one; most cities are not)."""
    monkeypatch.setattr(summaries, "ATTRIBUTE_SUMMARY_MIN", 150)
    bench_pages.fill(N)
    return {
        "region": OrgUnit.objects.filter(kind="region").order_by("pk").first(),
        "branch": OrgUnit.objects.filter(kind="branch").order_by("pk").first(),
    }


def _rows() -> list[dict[str, Any]]:
    rows = list(
        CustomerInsight.objects.values(
            "customer_id",
            "home_unit__path",
            "matrix_cell",
            "retention_state",
            "engagement_tier",
            "value_tier",
            "lock_in_flag",
            "p_alive",
            "nps_class",
            "referrals",
            "referred_customers",
            "visits_per_year",
            "model_year",
            "clv",
            "profit",
            "revenue",
            "customer__attributes",
        )
    )
    for row in rows:
        attributes = row["customer__attributes"]
        row["attributes"] = json.loads(attributes) if isinstance(attributes, str) else attributes
    return rows


def _matches(row: dict[str, Any], flt: segmentation.SegmentFilter) -> bool:
    """The filter's meaning, written out plainly over one customer's row."""
    low = row["p_alive"] is not None and row["p_alive"] < LOW_P_ALIVE
    checks = [
        flt.unit is None or row["home_unit__path"].startswith(flt.unit.path),
        not flt.cell or row["matrix_cell"] == flt.cell,
        not flt.retention or row["retention_state"] == flt.retention,
        not flt.tier or row["engagement_tier"] == ("" if flt.tier == "none" else flt.tier),
        not flt.value or row["value_tier"] == flt.value,
        not flt.lock_in or row["lock_in_flag"],
        not flt.low_alive or low,
        not flt.at_risk_value or row["matrix_cell"] == "at_risk" or low,
        not flt.promoters or row["nps_class"] == "promoter",
        not flt.referrers or row["referrals"] > 0,
        flt.model_year_from is None
        or (row["model_year"] is not None and row["model_year"] >= flt.model_year_from),
        flt.model_year_to is None
        or (row["model_year"] is not None and row["model_year"] <= flt.model_year_to),
        not flt.attribute or row["attributes"].get(flt.attribute) == flt.attribute_value,
    ]
    if flt.visits:
        low_band, high_band = VISITS_BANDS[flt.visits]
        rate = row["visits_per_year"] or 0.0
        checks.append(rate >= low_band and (high_band is None or rate < high_band))
    return all(checks)


def _plain(rows: list[dict[str, Any]], flt: segmentation.SegmentFilter) -> dict[str, Any]:
    chosen = [r for r in rows if _matches(r, flt)]
    low = [r for r in chosen if r["p_alive"] is not None and r["p_alive"] < LOW_P_ALIVE]
    return {
        "customers": len(chosen),
        "clv": sum(r["clv"] for r in chosen),
        "profit": sum(r["profit"] for r in chosen),
        "revenue": sum(r["revenue"] for r in chosen),
        "lock_in": sum(bool(r["lock_in_flag"]) for r in chosen),
        "promoters": sum(r["nps_class"] == "promoter" for r in chosen),
        "referrers": sum(r["referrals"] > 0 for r in chosen),
        "referred_customers": sum(r["referred_customers"] for r in chosen),
        "low_alive": len(low),
        "low_alive_clv": sum(r["clv"] for r in low),
        "cells": {c: sum(r["matrix_cell"] == c for r in chosen) for c in segmentation.CELLS},
        "value_tiers": {
            v: sum(r["value_tier"] == v for r in chosen) for v in segmentation.VALUE_TIER_NAMES
        },
        "nps_n": sum(r["nps_class"] in ("promoter", "passive", "detractor") for r in chosen),
        "ids": sorted(r["customer_id"] for r in chosen),
    }


def _combinations(bench: dict[str, OrgUnit]) -> list[dict[str, Any]]:
    camry = {"attribute": "model", "attribute_value": "Camry"}
    return [
        {**camry, "visits": "3-6"},
        {**camry, "promoters": True},
        {**camry, "model_year_from": 2018, "model_year_to": 2022},
        {**camry, "low_alive": True},
        {**camry, "at_risk_value": True, "unit": bench["region"]},
        {**camry, "unit": bench["branch"], "visits": "3-6", "referrers": True},
        {"attribute": "membership", "attribute_value": "none", "visits": "0-2"},
        {"attribute": "city", "attribute_value": "C0007", "lock_in": True},
        {"promoters": True, "visits": "3-6"},
        {"referrers": True, "model_year_from": 2018, "model_year_to": 2022},
        {"lock_in": True, "visits": "7+", "unit": bench["region"]},
        {"promoters": True, "referrers": True, "visits": "0-2"},
        {"low_alive": True, "visits": "3-6"},
        {"low_alive": True, "model_year_from": 2020, "unit": bench["branch"], "tier": "none"},
        {"at_risk_value": True, "model_year_from": 2020},
        {"at_risk_value": True, "visits": "7+", "cell": "lost"},
        {"at_risk_value": True, "low_alive": True, "visits": "0-2"},
        {"at_risk_value": True, "referrers": True, "visits": "0-2"},
        {"low_alive": True, "promoters": True, "model_year_to": 2015},
    ]


def test_combined_filters_equal_a_plain_computation(client, bench):
    rows = _rows()
    client.force_login(User.objects.get(username="bench-cx"))
    for combination in _combinations(bench):
        flt = segmentation.SegmentFilter(**combination)
        want = _plain(rows, flt)
        assert want["customers"], combination  # the base has every combination
        page = client.get(reverse("insights:segments"), flt.params(), secure=True)
        assert page.status_code == 200
        m = page.context["m"]
        for name in ("customers", "lock_in", "promoters", "referrers", "referred_customers"):
            assert getattr(m, name) == want[name], (combination, name)
        assert m.low_alive == want["low_alive"], combination
        assert m.cells == want["cells"] and m.value_tiers == want["value_tiers"], combination
        for name in ("clv", "profit", "revenue", "low_alive_clv"):
            assert getattr(m, name) == pytest.approx(want[name]), (combination, name)
        assert (m.nps.n if m.nps else 0) == want["nps_n"], combination
        listed = client.get(
            reverse("insights:customers"), {**flt.params(), "format": "csv"}, secure=True
        )
        ids = sorted(int(line.split(",")[0]) for line in _csv_lines(listed)[1:])
        assert ids == want["ids"], combination


def _csv_lines(response) -> list[str]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [line for line in text.splitlines() if line]


def test_low_p_alive_and_value_at_risk_by_visits_band_read_the_summary(bench):
    F = segmentation.SegmentFilter
    assert F(low_alive=True, visits="3-6").summary_q() is not None
    assert F(at_risk_value=True, model_year_from=2020).summary_q() is not None
    assert F(promoters=True, visits="3-6").summary_q() is None  # its partial index instead
    assert F(low_alive=True, promoters=True, visits="3-6").summary_q() is None
    for flt in (F(low_alive=True, visits="3-6"), F(at_risk_value=True, visits="0-2")):
        stored = segmentation.summary_segment_measures(flt.summary_q())
        counted = segmentation.segment_measures(CustomerInsight.objects.filter(flt.q()))
        assert stored.customers == counted.customers and stored.cells == counted.cells
        assert stored.clv == pytest.approx(counted.clv)
        assert segmentation.stored_count(flt) == counted.customers


@pytest.mark.parametrize(
    "params",
    [{}, {"unit": "branch"}, {"unit": "region"}, {"cell": "locked_in"}, {"promoters": "1"}],
)
def test_a_bare_page_number_shows_that_page(client, bench, params, monkeypatch):
    """?page=N without a cursor counts off the edge row, then walks from it: the same rows as
    reading the whole list and cutting it."""
    from rapport.insights import views

    monkeypatch.setattr(views, "CUSTOMERS_PER_PAGE", 40)
    query = {k: (str(bench[v].pk) if k == "unit" else v) for k, v in params.items()}
    client.force_login(User.objects.get(username="bench-cx"))
    url = reverse("insights:customers")
    whole = [int(line.split(",")[0]) for line in _csv_lines(
        client.get(url, {**query, "format": "csv"}, secure=True)
    )[1:]]  # fmt: skip
    if set(query) <= {"unit"}:  # value tier first, then lifetime value
        flt = segmentation.SegmentFilter(unit=bench.get(params.get("unit", ""), None))
        order = {t: i for i, t in enumerate(segmentation.VALUE_TIER_NAMES)}
        keyed = lists.customer_rows(CustomerInsight.objects.filter(flt.q()))
        whole = [
            r["customer_id"]
            for r in sorted(keyed, key=lambda r: (order[r["value_tier"]], -r["clv"]))
        ]
    pages = -(-len(whole) // 40)
    for number in (2, 3, pages // 2, pages, pages + 1):
        page = client.get(url, {**query, "page": number}, secure=True)
        got = [r["customer_id"] for r in page.context["rows"]]
        assert got == whole[(number - 1) * 40 : number * 40], (params, number)
        assert page.context["has_next"] == (number < pages), (params, number)
