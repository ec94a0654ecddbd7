"""The unit view (/insights/units/<id>/): one unit's subtree, its rank among peers, scoping."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.insights.test_views_overview import insight_base, login  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

# 22: SegmentSummary grouped by value tier × cell (the unit's value tiers and the value at risk
# with low P(alive) in every cell) is one more query than when value at risk was the cell alone.
UNIT_QUERIES = 22


def test_unit_view_counts_only_its_subtree(client, users, insight_base):  # noqa: F811
    north = insight_base.org["north"]
    page = login(client, users["north_mgr"]).get(reverse("insights:unit", args=[north.pk]))
    assert page.status_code == 200
    tables = page.context["tables"]
    matrix = {row[0]: row[1] for row in tables["matrix"].rows}
    # North holds Taipei: A advocate, C locked in, D unmeasured; B and E are in the south.
    assert matrix["Advocates"] == 1 and matrix["Locked in"] == 1
    assert matrix["Retained, loyalty not measured"] == 1
    assert matrix["Lost"] == 0 and matrix["No visits"] == 0
    # Value tiers per unit come from SegmentSummary (tests/insights/test_segment_summary.py).
    assert "value_tiers" in tables and "value_tiers" in page.context["charts"]
    at_risk = tables["value_at_risk"].rows[0]
    assert at_risk[1] == 0  # nobody in Taipei is at risk
    mix = {row[0]: row[1] for row in tables["mix"].rows}
    assert mix["Fully engaged"] == 1 and mix["Indifferent"] == 1 and mix["Engaged"] == 0
    assert (
        "cell=locked_in" in tables["matrix"].links[1]
        and f"unit={north.pk}" in (tables["matrix"].links[1])
    )


def test_rank_among_peers(client, users, insight_base):  # noqa: F811
    org = insight_base.org
    page = login(client, users["cx"]).get(reverse("insights:unit", args=[org["north"].pk]))
    peers = {row[0]: row for row in page.context["tables"]["peers"].rows}
    assert set(peers) == {"North", "South"}
    # June: north (Taipei) NPS answers 10 and 8 → +50; south (Kaohsiung) 3 → −100.
    assert peers["North"][1] == pytest.approx(50.0) and peers["North"][5] == 1
    assert peers["South"][1] == pytest.approx(-100.0) and peers["South"][5] == 2
    assert peers["North"][6] == pytest.approx(0.5)  # A fully engaged of A, C with a tier
    assert "Units" in page.content.decode()  # Taipei below North
    units = {row[0] for row in page.context["tables"]["units"].rows}
    assert units == {"Taipei"}


def test_another_units_view_is_404_for_a_unit_manager(client, users, insight_base):  # noqa: F811
    c = login(client, users["north_mgr"])
    south = insight_base.org["south"]
    assert c.get(reverse("insights:unit", args=[south.pk])).status_code == 404
    assert c.get(reverse("insights:unit", args=[insight_base.org["ent"].pk])).status_code == 404
    assert c.get(reverse("insights:unit", args=[999999])).status_code == 404
    # Their exports too.
    assert (
        c.get(reverse("insights:table_csv", args=["matrix"]), {"unit": south.pk}).status_code == 404
    )
    assert c.get(reverse("insights:report_pdf"), {"unit": south.pk}).status_code == 404


def test_unit_view_query_count(client, users, insight_base, django_assert_num_queries):  # noqa: F811
    c = login(client, users["north_mgr"])
    url = reverse("insights:unit", args=[insight_base.org["north"].pk])
    c.get(url)
    with django_assert_num_queries(UNIT_QUERIES):
        assert c.get(url).status_code == 200


def test_unit_manager_customer_lists_stay_in_their_subtree(client, users, insight_base):  # noqa: F811
    c = login(client, users["north_mgr"])
    page = c.get(reverse("insights:customers"))
    ids = {r["customer_id"] for r in page.context["rows"]}
    assert ids == {insight_base.id(n) for n in "ACD"}
    south = insight_base.org["south"]
    page = c.get(reverse("insights:customers"), {"unit": south.pk})
    # An out-of-scope unit is not a choice: the filter says so and the list stays in scope.
    assert page.context["form"].errors["unit"]
    assert {r["customer_id"] for r in page.context["rows"]} == ids
