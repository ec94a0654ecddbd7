"""Competitors' figures: entered as percentages, validated, compared on the overview."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rapport.insights.models import CompetitorBenchmark
from tests.insights.test_views_overview import insight_base, login  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = {
    "name": "Rival Motors",
    "period": "2025-H1",
    "source": "Rival annual report p. 12",
    "n": "500",
    "fully_engaged": "30",
    "engaged": "25",
    "indifferent": "30",
    "actively_disengaged": "15",
    "nps": "20",
    "notes": "",
}


def test_cx_manager_adds_and_edits_a_competitor(client, users, insight_base):  # noqa: F811
    c = login(client, users["cx"])
    assert c.get(reverse("insights:benchmark_new")).status_code == 200
    response = c.post(reverse("insights:benchmark_new"), GOOD)
    assert response.status_code == 302
    row = CompetitorBenchmark.objects.get()
    assert (row.fully_engaged, row.n, row.created_by) == (0.30, 500, users["cx"])
    edit = c.get(reverse("insights:benchmark_edit", args=[row.pk]))
    assert edit.context["form"].initial["fully_engaged"] == 30.0  # shown as a percentage
    c.post(reverse("insights:benchmark_edit", args=[row.pk]), {**GOOD, "nps": "25"})
    row.refresh_from_db()
    assert row.nps == 25 and row.fully_engaged == 0.30
    overview = c.get(reverse("insights:overview"))
    competitor = overview.context["tables"]["competitors"].rows[0]
    assert competitor[0] == "Rival Motors" and competitor[6] is not None  # tested: n given
    assert "Rival Motors 2025-H1" in [
        s["label"] for s in overview.context["charts"]["mix"]["series"]
    ]


def test_bad_figures_are_named(client, users, insight_base):  # noqa: F811
    c = login(client, users["cx"])
    bad = {**GOOD, "fully_engaged": "130", "nps": "300", "name": ""}
    page = c.post(reverse("insights:benchmark_new"), bad)
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert set(errors) >= {"fully_engaged", "nps", "name"}
    assert "between 0 and 100" in page.content.decode()
    sums = {**GOOD, "engaged": "50"}
    page = c.post(reverse("insights:benchmark_new"), sums)
    assert "add up to 125.0%" in page.content.decode()
    assert not CompetitorBenchmark.objects.exists()


def test_delete_and_permissions(client, users, insight_base):  # noqa: F811
    row = CompetitorBenchmark.objects.create(name="X", period="2025", source="s")
    analyst = login(client, users["analyst"])
    assert analyst.post(reverse("insights:benchmark_edit", args=[row.pk]), GOOD).status_code == 403
    assert analyst.post(reverse("insights:benchmark_delete", args=[row.pk])).status_code == 403
    client.logout()
    cx = login(client, users["cx"])
    assert cx.post(reverse("insights:benchmark_delete", args=[row.pk])).status_code == 302
    assert not CompetitorBenchmark.objects.exists()
