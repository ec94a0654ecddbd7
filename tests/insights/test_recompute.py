"""`recompute_all` on a small real database gives the numbers worked out by hand
(tests/insights/insight_data.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from django.db import connection
from django.db.models import Sum

from rapport.customers.actions import merge_customers
from rapport.customers.models import AttributeDefinition, Customer, CustomerIdentity
from rapport.insights import jobs, summaries
from rapport.insights.models import (
    CustomerAttributeValue,
    CustomerInsight,
    InsightFigure,
    MatrixSummary,
    RecomputeRun,
    ReferralLink,
    ScoreSummary,
    SegmentSummary,
)
from rapport.surveys import stats
from rapport.surveys.models import Response
from tests.insights.insight_data import AS_OF, Base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base(org):
    return Base(org)


def facts(base, name):
    return CustomerInsight.objects.get(customer_id=base.id(name))


def test_retention_states_and_matrix_cells(base):
    run = jobs.recompute_all(as_of=AS_OF)
    assert run.kind == "full" and run.customers == 5
    a, b, c, d, e = (facts(base, n) for n in "ABCDE")
    assert (a.visits, a.expected_gap_days, a.days_since_visit) == (3, 60.0, 61)
    assert (a.retention_state, a.matrix_cell, a.gap_is_fallback) == ("retained", "advocate", False)
    assert (b.expected_gap_days, b.days_since_visit, b.retention_state) == (92.0, 303, "lost")
    assert b.matrix_cell == "lost" and b.engagement_tier == "engaged"
    assert (c.expected_gap_days, c.retention_state, c.matrix_cell) == (
        30.0,
        "retained",
        "locked_in",
    )
    assert (c.returns, c.prompted_returns, c.lock_in_flag) == (2, 2, True)
    assert not a.lock_in_flag and a.prompted_returns == 0
    assert (d.visits, d.expected_gap_days, d.gap_is_fallback) == (1, 60.0, True)
    assert (d.retention_state, d.matrix_cell) == ("retained", "unmeasured")
    assert (e.visits, e.retention_state, e.matrix_cell) == (0, "no_visits", "no_visits")
    assert e.value_tier == "bronze" and e.rfm_code == "111"
    assert (a.nps_score, a.nps_class, c.nps_class) == (10, "promoter", "passive")
    assert a.first_visit == dt.date(2025, 1, 1) and a.last_visit == dt.date(2025, 5, 1)
    # Money: every visit 5,000 with a 2,000 margin; C's payments have no margin: 25% assumed.
    assert (a.revenue, a.profit) == (15000.0, 6000.0)
    assert (c.revenue, c.profit) == (17000.0, 6000.0 + 2 * 250.0)


def test_referrals_and_value(base):
    run = jobs.recompute_all(as_of=AS_OF)
    a, d = facts(base, "A"), facts(base, "D")
    assert (a.referrals, a.referred_customers) == (1, 1)
    assert a.referred_value == pytest.approx(d.clv)
    assert d.referred_by_id == base.id("A")
    cal = run.calibration
    clvs = [facts(base, n).clv for n in "ABCD"]
    assert cal["margin_ratio"] == pytest.approx(0.4)  # visit margins 2,000 of 5,000
    if cal["fit_error"]:  # five customers do not identify BG/NBD: the cadence fallback
        # A: 61 days since, gap 60 → P = (3·60 − 61)/(2·60); 365/60 visits a year of 5,000.
        p = (180 - 61) / 120
        assert facts(base, "A").p_alive == pytest.approx(p)
        assert clvs[0] == pytest.approx(0.4 * 5000 * p * 365 / 60 * 1.1**-0.5)
        assert clvs[1] == 0.0  # B is lost
        assert facts(base, "D").p_alive == 1.0
    assert all(v >= 0 for v in clvs)
    share = InsightFigure.objects.get(key="referrals").value
    # New customers (first visit in the last 365 days): A, C, D; one of them (D) referred.
    assert (share["new_customers"], share["share"]) == (3, pytest.approx(1 / 3))
    assert share["referred_customers"] == 1


def test_score_cells_by_unit_month_and_their_intervals(base, org):
    jobs.recompute_all(as_of=AS_OF)
    june = dt.date(2025, 6, 1)

    def cell(measure, dimension, key, kind="month", start=june):
        return ScoreSummary.objects.get(
            measure=measure, dimension=dimension, key=key, period_kind=kind, period_start=start
        )

    everyone = cell("nps", "all", "")
    assert (everyone.n, everyone.a, everyone.b, everyone.c) == (3, 1, 1, 1)
    expected = stats.nps_interval(1, 1, 1)
    assert (everyone.estimate, everyone.low, everyone.high) == pytest.approx(
        (expected.estimate, expected.low, expected.high)
    )
    assert everyone.small_sample
    taipei = cell("nps", "unit", str(org["taipei"].pk))
    assert (taipei.a, taipei.b, taipei.c, taipei.estimate) == (1, 1, 0, 50.0)
    north = cell("nps", "unit", str(org["north"].pk))  # a region counts its branches
    assert (north.n, north.estimate) == (2, 50.0)
    assert cell("nps", "unit", str(org["ent"].pk)).n == 3
    csat = cell("csat", "all", "")
    assert (csat.n, csat.a) == (2, 1)
    assert csat.low == pytest.approx(stats.wilson_interval(1, 2).low)
    assert cell("nps", "all", "", "quarter", dt.date(2025, 4, 1)).n == 3
    assert cell("nps", "all", "", "year", dt.date(2025, 1, 1)).estimate == 0.0
    fully = cell("tier.fully_engaged", "all", "")
    assert (fully.n, fully.a) == (3, 1)
    # The current mix counts customers by their latest tier.
    current = cell("tier.indifferent", "all", "", "current", dt.date(2025, 7, 1))
    assert (current.n, current.a) == (3, 1)
    assert cell("nps", "visits_band", "0-2").n == 1  # B: one service visit in the last year
    assert cell("nps", "visits_band", "3-6").n == 2  # A and C: three


def test_matrix_summary(base, org):
    jobs.recompute_all(as_of=AS_OF)
    rows = {
        (r.cell, r.engagement_tier): r
        for r in MatrixSummary.objects.filter(dimension="all", key="")
    }
    assert {k: r.customers for k, r in rows.items()} == {
        ("advocate", "fully_engaged"): 1,
        ("lost", "engaged"): 1,
        ("locked_in", "indifferent"): 1,
        ("unmeasured", ""): 1,
        ("no_visits", ""): 1,
    }
    assert rows[("locked_in", "indifferent")].lock_in_flagged == 1
    taipei = MatrixSummary.objects.filter(dimension="unit", key=str(org["taipei"].pk))
    assert sum(r.customers for r in taipei) == 3


def test_value_tier_for(base):
    jobs.recompute_all(as_of=AS_OF)
    tiers = {n: jobs.value_tier_for(base.id(n)) for n in "ABCDE"}
    assert set(tiers.values()) <= {"platinum", "gold", "silver", "bronze"}
    assert tiers["E"] == "bronze"
    assert jobs.value_tier_for(10**9) is None
    assert jobs.value_tiers_for([base.id("E")]) == {base.id("E"): "bronze"}


def snapshot():
    def rows(model, order, skip=()):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        return [
            tuple(pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for v in row)
            for row in model.objects.order_by(*order).values_list(*fields)
        ]

    return {
        "insight": rows(CustomerInsight, ["customer_id"]),
        "scores": rows(ScoreSummary, ["measure", "period_kind", "period_start", "dimension", "key"],
                       skip=("id",)),
        "matrix": rows(MatrixSummary, ["dimension", "key", "retention_state", "engagement_tier"],
                       skip=("id",)),
        "segments": rows(SegmentSummary, [*summaries.SEGMENT_KEYS], skip=("id",)),
        "attributes": rows(CustomerAttributeValue, ["attribute", "value", "insight_id"],
                           skip=("id",)),
    }  # fmt: skip


def test_incremental_equals_full_after_new_touchpoints(base, monkeypatch):
    # Registered attributes, every value with summary rows: their slices are kept up too.
    monkeypatch.setattr(summaries, "ATTRIBUTE_SUMMARY_MIN", 1)
    AttributeDefinition.objects.create(name="model", type="string")
    AttributeDefinition.objects.create(name="vip", type="boolean")
    for name, attributes in (("B", {"model": "Yaris", "vip": True}), ("D", {"model": "Camry"})):
        Customer.objects.filter(pk=base.id(name)).update(attributes=attributes)
    jobs.recompute_all(as_of=AS_OF)
    # New: D comes back and answers; B returns after a long time; a new friend of C's.
    base.visits("D", "taipei", "2025-06-20")
    base.respond("D", "taipei", "2025-06-21", nps=9, csat=4, tier="engaged")
    base.visits("B", "kaohsiung", "2025-06-25")
    base.touch("C", "referral", "2025-06-26", "taipei", context={"referred_customer": "dms-E"})
    base.respond("E", "kaohsiung", "2025-03-05", nps=6)  # an imported, older answer
    run = jobs.recompute_incremental(as_of=AS_OF)
    assert run.kind == "incremental"
    assert run.customers >= 4
    incremental = snapshot()
    d = facts(base, "D")
    assert (d.visits, d.matrix_cell, d.gap_is_fallback) == (2, "advocate", True)
    assert facts(base, "B").retention_state == "retained"
    assert facts(base, "E").referred_by_id == base.id("C")
    jobs.recompute_all(as_of=AS_OF, refit=False)
    full = snapshot()
    assert incremental["insight"] == full["insight"]
    assert incremental["matrix"] == full["matrix"]
    assert incremental["segments"] == full["segments"] and full["segments"]
    assert incremental["attributes"] == full["attributes"] and len(full["attributes"]) == 3
    assert SegmentSummary.objects.filter(attribute="vip", attribute_value="true").exists()
    assert incremental["scores"] == full["scores"]
    march = ScoreSummary.objects.get(
        measure="nps",
        dimension="all",
        key="",
        period_kind="month",
        period_start=dt.date(2025, 3, 1),
    )
    assert march.c == 1


def test_incremental_without_a_previous_run_is_full(base):
    run = jobs.recompute_incremental(as_of=AS_OF)
    assert run.kind == "full"
    assert RecomputeRun.objects.count() == 1


def test_incremental_since_a_time(base):
    jobs.recompute_all(as_of=AS_OF)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    base.visits("D", "taipei", "2025-06-20")
    jobs.recompute_incremental(since=before, as_of=AS_OF)
    assert facts(base, "D").visits == 2
    assert np.isfinite(facts(base, "D").expected_gap_days)


def test_referral_by_customer_id_and_unknown_friends(base):
    base.touch("B", "referral", "2024-05-01", "kaohsiung",
               context={"referred_customer": str(base.id("E"))})  # fmt: skip
    base.touch("B", "referral", "2024-05-02", "kaohsiung", context={"referred_customer": "nobody"})
    jobs.recompute_all(as_of=AS_OF)
    assert facts(base, "E").referred_by_id == base.id("B")
    b = facts(base, "B")
    assert (b.referrals, b.referred_customers) == (2, 1)


def test_incremental_resolves_a_friend_who_became_a_customer(base):
    # B names a friend no system knows yet; the full run stores the link unresolved.
    base.touch("B", "referral", "2024-05-03", "kaohsiung", context={"referred_customer": "crm-F"})
    jobs.recompute_all(as_of=AS_OF)
    assert ReferralLink.objects.filter(referrer=base.id("B"), referred=None).count() == 1
    assert facts(base, "B").referred_customers == 0
    # F arrives through the CRM — an identity, no touchpoint of F's and none of B's since.
    f = Customer.objects.create(display_name="F", home_unit=base.org["kaohsiung"])
    CustomerIdentity.objects.create(source=base.crm, external_id="crm-F", customer=f)
    base.visits("A", "taipei", "2025-06-15")  # something else is new, as usual
    jobs.recompute_incremental(as_of=AS_OF)
    assert ReferralLink.objects.get(referrer=base.id("B")).referred == f.pk
    assert facts(base, "B").referred_customers == 1
    incremental = snapshot()
    jobs.recompute_all(as_of=AS_OF, refit=False)
    assert snapshot()["insight"] == incremental["insight"]


def test_incremental_follows_a_merged_friend(base):
    jobs.recompute_all(as_of=AS_OF)
    assert facts(base, "D").referred_by_id == base.id("A")
    # D (A's friend) turns out to be B: D's identities and history move to B.
    merge_customers(base.customers["B"], base.customers["D"])
    jobs.recompute_incremental(as_of=AS_OF)
    assert ReferralLink.objects.get(referrer=base.id("A")).referred == base.id("B")
    assert facts(base, "B").referred_by_id == base.id("A")
    assert facts(base, "A").referred_customers == 1


def test_incremental_adds_new_referrals_to_the_stored_links(base):
    jobs.recompute_all(as_of=AS_OF)
    before = set(ReferralLink.objects.values_list("touchpoint_id", "referrer", "referred"))
    new = base.touch(
        "C", "referral", "2025-06-26", "taipei", context={"referred_customer": "dms-E"}
    )
    jobs.recompute_incremental(as_of=AS_OF)
    after = set(ReferralLink.objects.values_list("touchpoint_id", "referrer", "referred"))
    assert after == before | {(new.pk, base.id("C"), base.id("E"))}
    jobs.recompute_incremental(as_of=AS_OF)  # nothing new: the links stay as they are
    assert set(ReferralLink.objects.values_list("touchpoint_id", "referrer", "referred")) == after


def test_an_empty_database(org):
    run = jobs.recompute_all(as_of=AS_OF)
    assert run.customers == 0
    assert CustomerInsight.objects.count() == 0
    assert jobs.recompute_incremental(as_of=AS_OF).customers == 0


def test_incremental_stands_down_when_another_run_finished_meanwhile(base, monkeypatch):
    from rapport.insights import summaries

    first = jobs.recompute_all(as_of=AS_OF)
    base.visits("D", "taipei", "2025-06-20")
    real = summaries.difference

    def another_run_finishes(added, removed):  # while the incremental run computes
        jobs.recompute_all(as_of=AS_OF)
        return real(added, removed)

    monkeypatch.setattr(summaries, "difference", another_run_finishes)
    returned = jobs.recompute_incremental(as_of=AS_OF)
    assert returned.kind == "full" and returned.pk != first.pk
    assert list(RecomputeRun.objects.values_list("kind", flat=True)) == ["full", "full"]
    assert facts(base, "D").visits == 2  # the other (full) run saw the visit


def test_a_response_finished_after_a_run_is_counted_once(base):
    from django.utils import timezone

    late = base.respond("D", "taipei", "2025-06-22", nps=10)
    Response.objects.filter(pk=late.pk).update(state="in_progress", completed_at=None)
    jobs.recompute_all(as_of=AS_OF)
    Response.objects.filter(pk=late.pk).update(state="completed", completed_at=timezone.now())
    time.sleep(1.1)  # runs count what completed before the second they start in
    jobs.recompute_incremental(as_of=AS_OF)
    jobs.recompute_incremental(as_of=AS_OF)  # a second run must not count it again
    incremental = snapshot()
    everyone = ScoreSummary.objects.filter(
        measure="nps", dimension="all", period_kind="year"
    ).aggregate(n=Sum("n"))["n"]
    assert everyone == 4  # A, B, C and the late one
    jobs.recompute_all(as_of=AS_OF, refit=False)
    assert snapshot()["scores"] == incremental["scores"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's VACUUM only")
def test_full_run_vacuums_the_rewritten_tables_on_postgresql(base):
    jobs.recompute_all(as_of=AS_OF)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL "
            "AND last_analyze IS NOT NULL AND relname LIKE 'insights_%%'"
        )
        vacuumed = {name for (name,) in cursor.fetchall()}
    assert {"insights_customerinsight", "insights_customerattributevalue"} <= vacuumed
