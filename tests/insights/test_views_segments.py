"""The segment explorer (/insights/segments/) and the customer lists behind every figure
(/insights/customers/): filters on value, engagement, model year, service visits a year and any
customer attribute; one aggregate query however many customers; CSV of the list."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rapport.customers.models import AttributeDefinition
from rapport.insights import jobs
from rapport.insights.models import CustomerInsight
from tests.insights.insight_data import AS_OF, Base
from tests.insights.test_views_overview import login

pytestmark = pytest.mark.django_db(transaction=True)

SEGMENT_QUERIES = 11
LIST_QUERIES = 11


@pytest.fixture
def owners(org):
    """The hand-made base, with cars: A and C drive 2021 models, D a 2015 one (seed 003)."""
    base = Base(org)
    AttributeDefinition.objects.create(name="model_year", label="Model year", type="integer")
    AttributeDefinition.objects.create(name="model", label="Car model", type="string")
    for name, year, model in (("A", 2021, "Camry"), ("C", 2021, "Yaris"), ("D", 2015, "Camry")):
        c = base.customers[name]
        c.attributes = {"model_year": year, "model": model}
        c.save()
    jobs.recompute_all(as_of=AS_OF)
    return base


def test_all_customers_without_filters_read_the_summary_tables(
    client, users, owners, django_assert_num_queries
):
    c = login(client, users["cx"])
    c.get(reverse("insights:segments"))
    with django_assert_num_queries(13) as captured:
        page = c.get(reverse("insights:segments"))
    assert page.status_code == 200
    assert not any("insights_customerinsight" in q["sql"] for q in captured.captured_queries)
    m = page.context["m"]
    assert m.stored and m.customers == 5
    assert m.cells["advocate"] == 1 and m.cells["locked_in"] == 1 and m.lock_in == 1
    assert m.mix.counts["fully_engaged"] == 1 and m.mix.n == 3
    assert m.nps.n == 3 and m.nps.estimate == pytest.approx(0.0)  # June: 10, 3 and 8
    assert m.promoters is None  # not stored: shown as —, computed once the segment is filtered
    assert sum(m.value_tiers.values()) == 5
    assert page.context["trend"]  # the whole base is a stored segment: its scores show


def test_a_filtered_segment_is_computed_from_its_customers(client, users, owners):
    page = login(client, users["cx"]).get(reverse("insights:segments"), {"retention": "retained"})
    m = page.context["m"]
    assert not m.stored and m.customers == 3  # A, C, D
    assert (m.promoters, m.nps.n) == (1, 2)  # A 10, C 8
    assert m.nps.estimate == pytest.approx(50.0)
    assert m.referrers == 1 and m.referred_customers == 1  # A brought D


def test_model_year_segment(client, users, owners):
    c = login(client, users["cx"])
    page = c.get(reverse("insights:segments"), {"model_year_from": 2020, "model_year_to": 2022})
    m = page.context["m"]
    assert m.customers == 2  # A and C
    assert m.cells["advocate"] == 1 and m.cells["locked_in"] == 1 and m.lock_in == 1
    assert m.mix.counts["fully_engaged"] == 1 and m.mix.counts["indifferent"] == 1
    assert page.context["trend"] is None  # not a stored segment
    listing = c.get(page.context["list_url"])
    assert {r["customer_id"] for r in listing.context["rows"]} == {owners.id("A"), owners.id("C")}


def test_attribute_and_tier_filters(client, users, owners):
    c = login(client, users["cx"])
    page = c.get(reverse("insights:segments"), {"attribute": "model", "attribute_value": "Camry"})
    assert page.context["m"].customers == 2  # A and D
    page = c.get(reverse("insights:segments"), {"tier": "none"})
    assert page.context["m"].customers == 2  # D and E have no engagement answer
    page = c.get(reverse("insights:segments"), {"visits": "0-2"})
    expected = CustomerInsight.objects.filter(visits_per_year__lt=3).count()
    expected += CustomerInsight.objects.filter(visits_per_year__isnull=True).count()
    assert page.context["m"].customers == expected


def test_bad_filters_are_named_not_ignored_silently(client, users, owners):
    c = login(client, users["cx"])
    page = c.get(
        reverse("insights:segments"),
        {"model_year_from": "new", "attribute": "model_year", "attribute_value": "x", "tier": "?"},
    )
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert set(errors) >= {"model_year_from", "attribute_value", "tier"}
    html = page.content.decode()
    assert "Model year from:" in html and "is not a valid integer" in html
    assert page.context["m"].customers == 5  # the bad filters are left out, as the page says


def test_segment_query_count(client, users, owners, django_assert_num_queries):
    c = login(client, users["cx"])
    url = reverse("insights:segments")
    params = {"model_year_from": 2020, "value": "gold"}
    c.get(url, params)
    with django_assert_num_queries(SEGMENT_QUERIES):
        c.get(url, params)


def test_customer_list_pages_and_links_to_customer_360(client, users, owners, settings):
    from rapport.insights import views

    c = login(client, users["cx"])
    old = views.CUSTOMERS_PER_PAGE
    views.CUSTOMERS_PER_PAGE = 2
    try:
        first = c.get(reverse("insights:customers"))
        second = c.get(reverse("insights:customers"), {"page": 2})
        third = c.get(reverse("insights:customers"), {"page": 3})
    finally:
        views.CUSTOMERS_PER_PAGE = old
    rows = [r["customer_id"] for p in (first, second, third) for r in p.context["rows"]]
    assert sorted(rows) == sorted(owners.id(n) for n in "ABCDE")
    order = {"platinum": 0, "gold": 1, "silver": 2, "bronze": 3}
    keys = [
        (order[r["value_tier"]], -r["clv"])
        for p in (first, second, third)
        for r in p.context["rows"]
    ]
    assert keys == sorted(keys)  # by value tier, then most valuable first
    assert first.context["has_next"] and not third.context["has_next"]
    assert first.context["total"] == 5 and first.context["pages"] == 3
    assert reverse("customers:detail", args=[rows[0]]) in first.content.decode()


def test_a_units_list_pages_through_its_value_tiers(client, users, owners):
    """One customer a page: every page past the first tiers skips them by counting them."""
    from rapport.insights import views

    c = login(client, users["north_mgr"])
    old = views.CUSTOMERS_PER_PAGE
    views.CUSTOMERS_PER_PAGE = 1
    try:
        pages = [c.get(reverse("insights:customers"), {"page": n}) for n in (1, 2, 3, 4)]
    finally:
        views.CUSTOMERS_PER_PAGE = old
    seen = [r["customer_id"] for p in pages for r in p.context["rows"]]
    assert sorted(seen) == sorted(owners.id(n) for n in "ACD") and len(seen) == 3
    assert pages[0].context["total"] == 3 and not pages[2].context["has_next"]
    assert pages[3].context["rows"] == []


def test_customer_list_query_count(client, users, owners, django_assert_num_queries):
    c = login(client, users["cx"])
    url = reverse("insights:customers")
    c.get(url, {"cell": "locked_in"})
    with django_assert_num_queries(LIST_QUERIES):
        c.get(url, {"cell": "locked_in"})


def test_customer_list_csv_streams_every_row(client, users, owners):
    response = login(client, users["cx"]).get(
        reverse("insights:customers"), {"format": "csv", "value": "bronze"}
    )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = set(CustomerInsight.objects.filter(value_tier="bronze").values_list("pk", flat=True))
    assert {int(r["id"]) for r in rows} == expected
    assert set(rows[0]) >= {"id", "name", "cell", "lifetime_value", "p_alive", "value_tier"}


@pytest.mark.parametrize(
    "params",
    [{}, {"unit": "north"}, {"tier": "none"}, {"attribute": "model", "attribute_value": "Camry"}],
)
def test_next_and_previous_links_walk_from_a_cursor(client, users, owners, params, monkeypatch):
    """One customer a page: following "Next" from page 1 gives the offset pages' rows in the
    same order, and "Previous" from the last page gives them back, each link with its cursor."""
    from rapport.insights import views

    monkeypatch.setattr(views, "CUSTOMERS_PER_PAGE", 1)
    if "unit" in params:
        params = {**params, "unit": owners.org["north"].pk}
    c = login(client, users["cx"])
    url = reverse("insights:customers")
    by_offset = []
    for n in range(1, 7):
        by_offset += [r["customer_id"] for r in c.get(url, {**params, "page": n}).context["rows"]]
    assert by_offset  # at least one customer

    page, forward = c.get(url, params), []
    while True:
        forward += [r["customer_id"] for r in page.context["rows"]]
        if not page.context["next_query"]:
            break
        assert "after=" in page.context["next_query"]
        page = c.get(url + "?" + page.context["next_query"])
    assert forward == by_offset
    backward = [r["customer_id"] for r in page.context["rows"]]
    while page.context["previous_query"]:
        assert "before=" in page.context["previous_query"]
        page = c.get(url + "?" + page.context["previous_query"])
        backward = [r["customer_id"] for r in page.context["rows"]] + backward
    assert backward == by_offset and page.context["page_number"] == 1


def test_a_bad_cursor_is_ignored(client, users, owners):
    page = login(client, users["cx"]).get(
        reverse("insights:customers"), {"after": "gold:many:1", "tier": "none"}
    )
    assert page.status_code == 200 and page.context["rows"]


# Page 2 of everyone (one customer a page) starts in the next value tier: a query for the
# edge row, and one for each of the two tiers the walk from it reads.
@pytest.mark.parametrize(("params", "more"), [({"retention": "retained"}, 1), ({}, 2)])
def test_a_bare_page_number_costs_one_query_more(
    client, users, owners, params, more, django_assert_num_queries, monkeypatch
):
    """?page=N without a cursor: one query more than page 1 finds the edge row
    (lists.offset_page, or lists.by_value_tier_page's jump), then the page is walked from it
    — not a skip, and no query per skipped row."""
    from rapport.insights import views

    monkeypatch.setattr(views, "CUSTOMERS_PER_PAGE", 1)
    c = login(client, users["cx"])
    url = reverse("insights:customers")
    c.get(url, params)
    with CaptureQueriesContext(connection) as first:
        c.get(url, params)
    with django_assert_num_queries(len(first.captured_queries) + more):
        page = c.get(url, {**params, "page": 2})
    assert len(page.context["rows"]) == 1
