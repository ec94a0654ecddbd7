"""SegmentSummary: the job's per-segment sums (home unit × value tier × retention × engagement
tier × cell × visits band × model year) and the customers' denormalised model year. A segment,
list count, value at risk or unit value tiers read from it must equal the same figure counted
over CustomerInsight — on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest
from django.db.models import Q, Sum
from django.urls import reverse

from rapport.customers.models import AttributeDefinition, Customer
from rapport.insights import jobs, segmentation, summaries
from rapport.insights.models import CustomerAttributeValue, CustomerInsight, SegmentSummary
from tests.insights.insight_data import AS_OF, Base
from tests.insights.test_views_overview import login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cars(org):
    """The hand-made base; A drives a 2021 car, C a "2021" typed as text, D's year is junk and
    B has no attributes (both left out of model-year segments, not an error)."""
    base = Base(org)
    for name, attributes in (
        ("A", {"model_year": 2021, "model": "Camry"}),
        ("C", {"model_year": "2021", "model": "Yaris"}),
        ("D", {"model_year": "old", "model": "Camry"}),
        ("E", {"model_year": 2015}),
    ):
        c = base.customers[name]
        c.attributes = attributes
        c.save()
    jobs.recompute_all(as_of=AS_OF)
    return base


def test_model_year_is_copied_from_the_attribute(cars):
    years = dict(CustomerInsight.objects.values_list("customer_id", "model_year"))
    assert years[cars.id("A")] == 2021 and years[cars.id("C")] == 2021
    assert years[cars.id("E")] == 2015
    assert years[cars.id("D")] is None and years[cars.id("B")] is None


def test_rows_add_up_to_every_customer(cars):
    everyone = SegmentSummary.objects.filter(flags="", attribute="", visits_band="")
    got = everyone.aggregate(n=Sum("customers"), clv=Sum("clv"), p=Sum("promoters"))
    facts = CustomerInsight.objects.aggregate(clv=Sum("clv"))
    assert got["n"] == CustomerInsight.objects.count() == 5
    assert got["clv"] == pytest.approx(facts["clv"])
    assert got["p"] == CustomerInsight.objects.filter(nps_class="promoter").count()


def _filters(org) -> list[segmentation.SegmentFilter]:
    F = segmentation.SegmentFilter
    return [
        F(),
        F(model_year_from=2020, model_year_to=2022),
        F(model_year_from=2016),
        F(model_year_to=2015, value="bronze"),
        F(unit=org["taipei"], tier="indifferent"),
        F(unit=org["north"], retention="retained"),
        F(unit=org["south"], cell="lost"),
        F(tier="none", visits="0-2"),
        F(visits="3-6"),
        F(cell="advocate", model_year_from=2021, model_year_to=2021),
        F(promoters=True),
        F(unit=org["north"], referrers=True),
        F(low_alive=True, tier="none"),
        F(at_risk_value=True),
        F(at_risk_value=True, cell="lost", promoters=True),
        F(at_risk_value=True, low_alive=True),
        F(lock_in=True),
        F(promoters=True, referrers=True, value="gold"),
        F(low_alive=True, visits="0-2"),
        F(low_alive=True, model_year_from=2016, unit=org["north"]),
        F(at_risk_value=True, model_year_to=2021, tier="none"),
        F(at_risk_value=True, low_alive=True, visits="3-6"),
    ]


def _same_measures(stored, counted, label) -> None:
    for name in (
        "customers",
        "lock_in",
        "promoters",
        "referrers",
        "referred_customers",
        "low_alive",
        "cells",
        "value_tiers",
    ):
        assert getattr(stored, name) == getattr(counted, name), (label, name)
    for name in ("clv", "profit", "revenue", "low_alive_clv"):
        assert getattr(stored, name) == pytest.approx(getattr(counted, name)), name
    assert stored.mean_p_alive == pytest.approx(counted.mean_p_alive)
    assert stored.mix.counts == counted.mix.counts
    assert (stored.nps is None) == (counted.nps is None)
    if stored.nps is not None:
        assert stored.nps.n == counted.nps.n
        assert stored.nps.estimate == pytest.approx(counted.nps.estimate)


def test_summary_segments_equal_the_aggregate_over_customers(cars, org):
    flagged = 0
    for flt in _filters(org):
        cond = flt.summary_q()
        assert cond is not None, flt
        stored = segmentation.summary_segment_measures(cond)
        counted = segmentation.segment_measures(CustomerInsight.objects.filter(flt.q()))
        _same_measures(stored, counted, flt.params())
        flagged += bool(flt.flag_names) and counted.customers
    assert flagged  # some flag segments are not empty


def test_flag_slices_hold_every_combination(cars):
    """A customer counts in the slice of each combination of their flags, and nowhere else;
    only the low P(alive) slice also has rows by visits band and model year (the same
    customers again)."""
    for names in ({"promoter"}, {"low_alive"}, {"promoter", "referrer"}, {"lock_in"}):
        key = summaries.flags_key(names)
        flt = segmentation.SegmentFilter(
            **{
                "promoters" if n == "promoter" else "referrers" if n == "referrer" else n: True
                for n in names
            }  # fmt: skip
        )
        rows = SegmentSummary.objects.filter(flags=key)
        got = rows.filter(visits_band="").aggregate(n=Sum("customers"))["n"]
        assert (got or 0) == CustomerInsight.objects.filter(flt.q()).count(), names
        fine = rows.exclude(visits_band="").aggregate(n=Sum("customers"))["n"]
        assert fine == (got if key == summaries.FINE_FLAGS else None), names


def test_attributes_and_visits_are_not_answered_from_an_attribute_slice(org):
    F = segmentation.SegmentFilter
    assert F(attribute="model", attribute_value="Camry", visits="0-2").summary_q() is None
    assert F(attribute="model", attribute_value="Camry", promoters=True).summary_q() is None
    assert F(attribute="model", attribute_value="Camry", unit=org["north"]).summary_q()
    assert F(promoters=True, visits="3-6").summary_q() is None  # flags: coarse rows only
    assert F(low_alive=True, promoters=True, visits="3-6").summary_q() is None
    assert F(at_risk_value=True, model_year_from=2020).summary_q()  # low P(alive): fine rows
    assert F(low_alive=True, visits="3-6", cell="lost").summary_q()
    assert F(promoters=True, unit=org["north"], cell="advocate").summary_q()


def test_list_counts_from_the_summary_equal_the_lists(cars, org):
    for flt in _filters(org):
        for extra in ({}, {"low_alive": True}, {"at_risk_value": True}, {"referrers": True}):
            f = dataclasses.replace(flt, **extra)
            got = segmentation.stored_count(f)
            # A flag slice has no rows by visits band or model year: no stored count then.
            if extra.get("referrers") and (f.visits or f.model_year_from or f.model_year_to):
                assert got is None
                continue
            assert got == CustomerInsight.objects.filter(f.q()).count(), f.params()


def test_low_p_alive_sums(org):
    """segment_rows on hand-made facts: P(alive) below one half counts as low, none does not."""
    frame = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "home_unit_id": [1, 1, 1, 2],
            "value_tier": ["gold"] * 4,
            "retention_state": ["retained"] * 4,
            "engagement_tier": ["", "", "", ""],
            "matrix_cell": ["unmeasured"] * 4,
            "visits_per_year": [2.5, 2.9, None, 7.0],
            "model_year": [2020, 2020, 2020, None],
            "lock_in_flag": [False, True, False, False],
            "clv": [100.0, 200.0, 300.0, 400.0],
            "profit": [1.0, 2.0, 3.0, 4.0],
            "revenue": [10.0, 20.0, 30.0, 40.0],
            "p_alive": [0.2, 0.5, None, 0.49],
            "nps_class": ["promoter", "", "detractor", "passive"],
            "referrals": [0, 2, 0, 1],
            "referred_customers": [0, 1, 0, 3],
        }
    )
    everyone = summaries.segment_rows(frame)
    flags = everyone.filter(pl.col("flags") != "", pl.col("visits_band") == "")
    low = everyone.filter(pl.col("flags") == "low_alive", pl.col("visits_band") != "")
    assert sorted(low.select("visits_band", "model_year", "customers").rows()) == [
        ("0-2", 2020, 1),
        ("7+", None, 1),
    ]  # customers 1 and 4, by visits band and model year
    everyone = everyone.filter(pl.col("visits_band") != "", pl.col("flags") == "")
    # 1: low P(alive) and a promoter; 2: lock-in and a referrer; 4: low and a referrer.
    assert dict(flags.group_by("flags").agg(pl.col("customers").sum()).iter_rows()) == {
        "low_alive": 2,
        "promoter": 1,
        "low_alive+promoter": 1,
        "lock_in": 1,
        "referrer": 2,
        "lock_in+referrer": 1,
        "low_alive+referrer": 1,
    }
    rows = everyone.sort("home_unit")
    one, two = rows.row(0, named=True), rows.row(1, named=True)
    assert (one["customers"], one["visits_band"], one["model_year"]) == (3, "0-2", 2020)
    assert (one["low_alive"], one["low_alive_clv"]) == (1, 100.0)
    assert (one["p_alive_n"], one["p_alive_sum"]) == (2, pytest.approx(0.7))
    assert (one["promoters"], one["detractors"], one["referrers"]) == (1, 1, 1)
    assert (one["lock_in_flagged"], one["referred_customers"]) == (1, 1)
    assert (two["visits_band"], two["model_year"], two["low_alive"]) == ("7+", None, 1)
    added = summaries.add_segment_rows(rows, summaries.negated_segment_rows(rows.head(1)))
    assert added.height == 1  # a row left without customers is dropped
    attributes = pl.DataFrame(
        {"customer_id": [1, 2, 4], "attribute": ["model"] * 3, "value": ["Camry", "Camry", "Yaris"]}
    )
    sliced = summaries.segment_rows(frame, attributes).filter(pl.col("attribute") != "")
    assert sliced.height == 0  # fewer than ATTRIBUTE_SUMMARY_MIN customers: no rows
    few = pl.DataFrame({"attribute": ["model"], "attribute_value": ["Camry"]})
    sliced = summaries.segment_rows(frame, attributes, few).filter(pl.col("attribute") != "")
    assert sliced["customers"].sum() == 2 and set(sliced["visits_band"]) == {""}


def test_a_summary_segment_never_reads_customer_rows(
    client, users, cars, django_assert_num_queries
):
    from tests.insights.test_views_segments import SEGMENT_QUERIES

    c = login(client, users["cx"])
    params = {"model_year_from": 2020, "unit": cars.org["north"].pk, "tier": "indifferent"}
    c.get(reverse("insights:segments"), params)
    # The explorer's pin plus the form's lookup of the chosen unit; the figures are one query.
    with django_assert_num_queries(SEGMENT_QUERIES + 1) as captured:
        page = c.get(reverse("insights:segments"), params)
    assert not any("insights_customerinsight" in q["sql"] for q in captured.captured_queries)
    m = page.context["m"]
    assert m.customers == 1 and m.mix.counts["indifferent"] == 1  # C
    assert m.promoters == 0 and m.mean_p_alive is not None  # the extras are shown


def test_value_at_risk_adds_low_p_alive_in_other_cells(client, users, cars):
    page = login(client, users["cx"]).get(reverse("insights:overview"))
    var = page.context["dash"].at_risk
    at_risk = CustomerInsight.objects.filter(matrix_cell="at_risk")
    low = CustomerInsight.objects.filter(~Q(matrix_cell="at_risk"), p_alive__lt=0.5)
    assert var.customers == at_risk.count()
    assert var.low_alive_customers == low.count()
    expected = sum(at_risk.values_list("clv", flat=True)) + sum(low.values_list("clv", flat=True))
    assert var.total_clv == pytest.approx(expected)
    rows = page.context["tables"]["value_at_risk"].rows
    assert rows[2][1] == var.total_customers
    assert "at_risk_value=1" in page.context["tables"]["value_at_risk"].links[2]


def test_a_unit_shows_its_value_tiers(client, users, cars):
    north = cars.org["north"]
    page = login(client, users["north_mgr"]).get(reverse("insights:unit", args=[north.pk]))
    tiers = {t.tier: t for t in page.context["dash"].value_tiers}
    theirs = CustomerInsight.objects.filter(home_unit__path__startswith=north.path)
    for tier, t in tiers.items():
        mine = theirs.filter(value_tier=tier)
        assert t.customers == mine.count()
        assert t.clv == pytest.approx(sum(mine.values_list("clv", flat=True)))
    assert sum(t.customers for t in tiers.values()) == 3  # A, C, D in Taipei
    assert "value_tiers" in page.context["tables"] and "value_tiers" in page.context["charts"]


@pytest.fixture
def registered(org, monkeypatch):
    """Registered attributes: model (Camry: A and D, held by enough customers to be summarized
    with the minimum at 2; Yaris: C alone, read from its index entries), a yes/no, a number."""
    monkeypatch.setattr(summaries, "ATTRIBUTE_SUMMARY_MIN", 2)
    base = Base(org)
    for name, kind in (("model", "string"), ("vip", "boolean"), ("seats", "integer")):
        AttributeDefinition.objects.create(name=name, type=kind)
    for name, attributes in (
        ("A", {"model": "Camry", "vip": True, "seats": 5}),
        ("C", {"model": "Yaris", "vip": False, "seats": 5}),
        ("D", {"model": "Camry", "seats": [1]}),  # a list is no value: left out
        ("E", {"model": "Camry" * 60}),  # cut to 200 characters, still found
    ):
        Customer.objects.filter(pk=base.customers[name].pk).update(attributes=attributes)
    jobs.recompute_all(as_of=AS_OF)
    return base


def _json_match(name: str, value) -> set[int]:
    """Customers whose attribute equals value, read the slow way (every customer's JSON)."""
    return {
        c.pk
        for c in Customer.objects.all()
        if (c.attributes or {}).get(name) == value and hasattr(c, "insight")
    }


def test_attribute_values_are_indexed_per_customer(registered):
    got = set(CustomerAttributeValue.objects.values_list("attribute", "value", "insight_id"))
    i = registered.id
    assert ("vip", "true", i("A")) in got and ("vip", "false", i("C")) in got
    assert ("seats", "5", i("A")) in got and not any(
        a == "seats" and c == i("D") for a, _v, c in got
    )
    assert ("model", "Camry" * 40, i("E")) in got
    clv = dict(CustomerInsight.objects.values_list("customer_id", "clv"))
    assert all(
        row.clv == pytest.approx(clv[row.insight_id])
        for row in CustomerAttributeValue.objects.all()
    )


def test_attribute_segments_equal_the_json_lookup(registered, org):
    F = segmentation.SegmentFilter
    cases = [
        (F(attribute="model", attribute_value="Camry"), _json_match("model", "Camry"), True),
        (F(attribute="model", attribute_value="Camry", unit=org["north"], tier="indifferent"),
         None, True),
        (F(attribute="model", attribute_value="Yaris"), _json_match("model", "Yaris"), False),
        (F(attribute="vip", attribute_value=True), _json_match("vip", True), False),
        (F(attribute="seats", attribute_value=5), _json_match("seats", 5), True),
        (F(attribute="model", attribute_value="Camry", visits="0-2"), None, True),
    ]  # fmt: skip
    for flt, expected, summarized in cases:
        assert segmentation.attribute_summarized(flt) is summarized, flt.params()
        counted = segmentation.segment_measures(CustomerInsight.objects.filter(flt.q()))
        if expected is not None:
            assert set(CustomerInsight.objects.filter(flt.q()).values_list("pk", flat=True)) == (
                expected
            )
        assert segmentation.stored_count(flt) in (counted.customers, None)
        cond = flt.summary_q()
        if summarized and cond is not None:
            _same_measures(segmentation.summary_segment_measures(cond), counted, flt.params())
            assert segmentation.stored_count(flt) == counted.customers


def test_an_attribute_segment_reads_no_customer_json(
    client, users, registered, django_assert_num_queries
):
    from tests.insights.test_views_segments import SEGMENT_QUERIES

    c = login(client, users["cx"])
    for value, extra in (("Camry", 1), ("Yaris", 1)):
        params = {"attribute": "model", "attribute_value": value}
        c.get(reverse("insights:segments"), params)
        # The explorer's pin, plus whether the value is summarized.
        with django_assert_num_queries(SEGMENT_QUERIES + extra) as captured:
            page = c.get(reverse("insights:segments"), params)
        assert not any('."attributes"' in q["sql"] for q in captured.captured_queries)
        assert page.context["m"].customers == len(_json_match("model", value))
