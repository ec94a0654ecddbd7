"""The executive overview (/insights/): every section from the summary tables the real
recompute job fills on the hand-made base of tests/insights/insight_data.py, query count pinned,
and who may see it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from rapport.insights import jobs
from rapport.insights.models import CompetitorBenchmark
from tests.insights.insight_data import AS_OF, Base, at

pytestmark = pytest.mark.django_db(transaction=True)

# Queries of a signed-in page view: session, user, staff (with unit) for the viewer's time zone
# and the navigation; counted once here so every pin below names only the page's own.
# 18: one SegmentSummary query adds low-P(alive) customers of every cell to the value at risk.
OVERVIEW_QUERIES = 18


@pytest.fixture
def insight_base(org):
    """The hand-made base with a complaint case, then the real full recompute."""
    base = Base(org)
    jobs.recompute_all(as_of=AS_OF)
    return base


def add_complaint(base, users, day: str = "2025-06-20") -> None:
    from rapport.cases.models import Case
    from rapport.org.models import Staff

    tp = base.touch("B", "complaint", day, "kaohsiung", context={"text": "late"})
    Case.objects.create(
        customer=base.customers["B"],
        subject="Late repair",
        source="complaint",
        touchpoint=tp,
        severity="high",
        priority="p2",
        unit=base.org["kaohsiung"],
        owner=Staff.objects.get(user=users["khh_agent"]),
        opened_at=at(day),
        assigned_at=at(day),
    )


def login(client, user):
    client.force_login(user)
    return client


def test_overview_shows_every_section(client, users, insight_base):
    CompetitorBenchmark.objects.create(
        name="Rival Motors", period="2025", source="Annual report", n=400,
        fully_engaged=0.30, engaged=0.25, indifferent=0.30, actively_disengaged=0.15, nps=20,
    )  # fmt: skip
    page = login(client, users["cx"]).get(reverse("insights:overview"))
    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "Engagement mix against benchmarks",
        "World-class companies (Gallup)",
        "Average companies (Gallup)",
        "Rapport&#x27;s approximation",
        "Rival Motors",
        "Retention against loyalty",
        "Value at risk",
        "What +5 points of retention is worth",
        "Advocates and referrals",
        'id="chart-mix"',
        'id="chart-trend_nps"',
    ):
        assert text in html, text
    tables = page.context["tables"]
    mix = {row[0]: row for row in tables["mix"].rows}
    # A fully engaged, B engaged, C indifferent: a third each, D/E without an answer.
    assert mix["Fully engaged"][1] == 1 and mix["Engaged"][1] == 1
    assert mix["Fully engaged"][2] == pytest.approx(1 / 3)
    assert mix["Fully engaged"][5] == 0.48 and mix["Fully engaged"][6] == 0.19
    matrix = {row[0]: row for row in tables["matrix"].rows}
    assert matrix["Advocates"][1] == 1 and matrix["Locked in"][1] == 1
    assert matrix["Locked in"][3] == 1  # C's returns follow the instalments
    assert matrix["Lost"][1] == 1 and matrix["No visits"][1] == 1
    # Trend: June 2025 NPS from 1 promoter, 1 passive, 1 detractor = 0, flagged small.
    june = [r for r in tables["trend"].rows if r[0] == "2025-06" and r[1] == "NPS"]
    assert june and june[0][2] == pytest.approx(0.0) and june[0][5] == 3
    assert tables["trend"].flagged[0] is True
    assert tables["competitors"].rows[0][0] == "Rival Motors"
    assert tables["competitors"].rows[0][5] == pytest.approx(100 * (1 / 3 - 0.30))


def test_drill_down_links_open_the_customers_counted(client, users, insight_base):
    c = login(client, users["cx"])
    tables = c.get(reverse("insights:overview")).context["tables"]
    link = tables["matrix"].links[1]  # locked in
    assert "cell=locked_in" in link
    page = c.get(link)
    assert page.status_code == 200
    assert [r["customer_id"] for r in page.context["rows"]] == [insight_base.id("C")]
    assert page.context["total"] == 1
    assert reverse("customers:detail", args=[insight_base.id("C")]) in page.content.decode()


def test_complaint_trend_counts_complaint_cases_by_week(client, users, insight_base):
    add_complaint(insight_base, users)
    page = login(client, users["cx"]).get(reverse("insights:overview"))
    weeks = dict(page.context["dash"].complaints)
    assert sum(weeks.values()) == 1
    assert weeks[dt.date(2025, 6, 16)] == 1  # Friday 20 June 2025 is in the week of Monday 16
    assert 'id="chart-complaints"' in page.content.decode()


def test_no_complaint_section_without_cases(client, users, insight_base):
    page = login(client, users["cx"]).get(reverse("insights:overview"))
    assert page.context["dash"].complaints == []
    assert 'id="complaints"' not in page.content.decode()


def test_overview_query_count_is_fixed(client, users, insight_base, django_assert_num_queries):
    add_complaint(insight_base, users)
    c = login(client, users["cx"])
    c.get(reverse("insights:overview"))
    with django_assert_num_queries(OVERVIEW_QUERIES):
        c.get(reverse("insights:overview"))
    # More customers in the tables do not mean more queries.
    more = insight_base.customers["A"].__class__.objects.create(
        display_name="F", home_unit=insight_base.org["taipei"]
    )
    insight_base.customers["F"] = more
    insight_base.visits("F", "taipei", "2025-02-01", "2025-04-01", "2025-06-01")
    jobs.recompute_all(as_of=AS_OF)
    with django_assert_num_queries(OVERVIEW_QUERIES):
        c.get(reverse("insights:overview"))


def test_economics_calculator_uses_the_users_assumptions(client, users, insight_base):
    c = login(client, users["cx"])
    page = c.get(
        reverse("insights:overview"),
        {"retention_rate": 80, "annual_margin": 1000, "active_customers": 100,
         "discount_rate": 10, "change_points": 5},
    )  # fmt: skip
    w = page.context["dash"].what_if
    assert w.inputs.retention_rate == pytest.approx(0.8)
    # m(1+d)/(1+d−r): 1000·1.1/0.3 = 3666.7 → after 1000·1.1/0.25 = 4400: +20%.
    assert w.value_per_customer == pytest.approx(1100 / 0.3)
    assert w.profit_change == pytest.approx(0.2)
    assert w.worth == pytest.approx(100 * (4400 - 1100 / 0.3))


def test_economics_form_reports_bad_input(client, users, insight_base):
    page = login(client, users["cx"]).get(
        reverse("insights:overview"), {"retention_rate": "lots", "change_points": 5}
    )
    assert page.status_code == 200
    assert page.context["economics_form"].errors["retention_rate"]


def test_unit_manager_is_sent_to_their_unit(client, users, insight_base):
    page = login(client, users["north_mgr"]).get(reverse("insights:overview"))
    assert page.status_code == 302
    assert page.url == reverse("insights:unit", args=[insight_base.org["north"].pk])


def test_agents_may_not_see_insights(client, users, insight_base):
    page = login(client, users["taipei_agent"]).get(reverse("insights:overview"))
    assert page.status_code == 403


def test_analyst_sees_but_may_not_edit_benchmarks(client, users, insight_base):
    c = login(client, users["analyst"])
    assert c.get(reverse("insights:overview")).status_code == 200
    assert c.get(reverse("insights:benchmark_new")).status_code == 403


def test_before_the_first_run_the_page_says_so(client, users, org):
    page = login(client, users["cx"]).get(reverse("insights:overview"))
    assert page.status_code == 200
    assert "has not run yet" in page.content.decode()
