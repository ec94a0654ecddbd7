"""The home page: one obvious next action, scoped counts, the 30-day chart, an empty state."""

from __future__ import annotations

import json
import re

from django.urls import reverse
from django.utils import timezone

from rapport.customers.models import IdentityReview
from tests.ui.conftest import add_touchpoints

URL = reverse("home")


def test_empty_state_says_how_to_load_data(db, users, as_user):
    body = as_user("cx").get(URL).content.decode()
    assert "No customers yet" in body
    assert "rapport import customers" in body and "/api/v1/touchpoints" in body


def test_counts_are_scoped(people, as_user):
    taipei = as_user("taipei_agent").get(URL).context
    assert taipei["customer_count"] == 1 and taipei["touchpoint_count"] == 5
    everyone = as_user("analyst").get(URL).context
    assert everyone["customer_count"] == 2 and everyone["touchpoint_count"] == 7


def test_chart_counts_touchpoints_per_local_day(people, sources, as_user):
    now = timezone.now()
    add_touchpoints(people["lin"], sources["crm"], 3, start=now, prefix="recent")
    response = as_user("cx").get(URL)
    days = response.context["days"]
    assert len(days) == 30 and days[-1][0] == timezone.localdate(
        timezone=people["lin"].home_unit.tz
    )
    assert [n for _d, n in days[-3:]] == [1, 1, 1]
    body = response.content.decode()
    assert "vendor/chartjs/chart.umd.min.js" in body
    data = json.loads(re.search(r'id="daily-data"[^>]*>(.*?)</script>', body).group(1))
    assert data["values"][-3:] == [1, 1, 1] and len(data["labels"]) == 30


def test_open_reviews_become_the_next_action(people, sources, as_user):
    review = IdentityReview.objects.create(source=sources["crm"], external_id="X", reason="r")
    review.candidates.set([people["lin"]])
    body = as_user("cx").get(URL).content.decode()
    assert "1 record needs a person to decide who it belongs to" in body
    assert reverse("customers:reviews") in body
    # An agent has no review queue: their next action is the search.
    body = as_user("taipei_agent").get(URL).content.decode()
    assert "Find a customer" in body and "needs a person" not in body


def test_home_needs_sign_in(client):
    assert client.get(URL).status_code == 302
