"""The feedback pages: dashboard (fixed query count, scoping, inert quotes, drill-down), the item
list and page with corrections, and the customer timeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rapport.feedback.actions import record_feedback
from rapport.feedback.models import Correction, FeedbackItem
from rapport.touchpoints.models import Touchpoint
from tests.feedback.conftest import NEGATIVE_EN, NEGATIVE_ZH, POSITIVE_EN, item

pytestmark = pytest.mark.django_db
SCRIPT = "<script>alert('owned')</script> terrible, rude staff, never again"


def as_user(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def corpus(lin, bob):
    now = timezone.now()
    return record_feedback(
        [
            item(NEGATIVE_EN, customer_id=lin.pk, received_at=now - dt.timedelta(days=2)),
            item(NEGATIVE_ZH, customer_id=lin.pk, channel="call"),
            item(POSITIVE_EN, customer_id=bob.pk, channel="review", rating=5),
            item(SCRIPT, customer_id=bob.pk, channel="form"),
        ]
    )


def test_dashboard_figures_and_inert_quotes(corpus, users):
    html = as_user(users["admin"]).get(reverse("feedback:dashboard")).content.decode()
    assert ">4</span>" in html  # four items
    assert "Taipei" in html and "Kaohsiung" in html
    assert "<script>alert('owned')" not in html
    assert "&lt;script&gt;alert(" in html
    assert reverse("feedback:items") + "?" in html  # drill-down links


def test_dashboard_is_scoped_to_the_users_unit(corpus, users):
    html = as_user(users["taipei_agent"]).get(reverse("feedback:dashboard")).content.decode()
    assert ">2</span>" in html
    assert "Kaohsiung" not in html.split("By unit")[1].split("</table>")[0]


def test_dashboard_query_count_is_fixed(corpus, users, lin, django_assert_num_queries):
    client = as_user(users["cx"])
    client.get(reverse("feedback:dashboard"))
    # session, user, staff and navigation; enterprise time zone; units and themes for the
    # filters; eleven grouped queries for the figures — whatever the number of items
    with django_assert_num_queries(19) as few:
        client.get(reverse("feedback:dashboard"))
    record_feedback([item(NEGATIVE_EN, customer_id=lin.pk) for _ in range(40)])
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("feedback:dashboard"))


def test_churn_mix_counts_customers_who_left(corpus, users, lin):
    from rapport.customers.models import SourceSystem

    Touchpoint.objects.create(
        customer=lin,
        occurred_at=timezone.now(),
        kind="cancellation",
        source=SourceSystem.objects.get_or_create(code="crm", defaults={"name": "crm"})[0],
        external_id="cx-1",
    )
    response = as_user(users["admin"]).get(reverse("feedback:dashboard"))
    churn = response.context["f"].churn_causes
    lin_causes = {c for row in FeedbackItem.objects.filter(customer=lin) for c, _p in row.causes}
    assert {r["key"] for r in churn} == lin_causes
    assert all(r["n"] == 1 for r in churn)


def test_permissions(corpus, users, db):
    assert Client().get(reverse("feedback:dashboard")).status_code == 302
    from django.contrib.auth.models import User

    nobody = User.objects.create_user("nobody", password="x")
    assert as_user(nobody).get(reverse("feedback:dashboard")).status_code == 403


def test_item_list_filters_and_item_page_scoping(corpus, users):
    client = as_user(users["admin"])
    page = client.get(reverse("feedback:items"), {"channel": "review"})
    assert list(page.context["page"].object_list) == [FeedbackItem.objects.get(channel="review")]
    neg = client.get(reverse("feedback:items"), {"sentiment": "negative"}).context["page"]
    assert all(i.sentiment == "negative" for i in neg.object_list) and neg.object_list
    partial = client.get(
        reverse("feedback:items"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="fb-items"
    )
    assert b"<html" not in partial.content
    bob_item = FeedbackItem.objects.get(channel="review")
    agent = as_user(users["taipei_agent"])
    assert agent.get(reverse("feedback:item", args=[bob_item.pk])).status_code == 404
    assert client.get(reverse("feedback:item", args=[bob_item.pk])).status_code == 200


def test_items_are_paginated(lin, users):
    record_feedback([item(f"note {i}", customer_id=lin.pk) for i in range(30)])
    client = as_user(users["admin"])
    first = client.get(reverse("feedback:items")).context["page"]
    assert len(first.object_list) == 25 and first.has_next()
    assert len(client.get(reverse("feedback:items"), {"page": 2}).context["page"].object_list) == 5


def test_a_correction_from_the_item_page(corpus, users):
    row = FeedbackItem.objects.get(text=NEGATIVE_EN)
    client = as_user(users["taipei_agent"])
    response = client.post(
        reverse("feedback:correct", args=[row.pk]),
        {"sentiment": "neutral", "causes": ["price"]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.sentiment == "neutral" and row.causes == [["price", 1.0]]
    assert row.labels.filter(kind="cause").get().key == "price"
    assert set(Correction.objects.values_list("field", "value")) == {
        ("sentiment", "neutral"),
        ("cause", "price"),
    }
    html = client.get(reverse("feedback:item", args=[row.pk])).content.decode()
    assert "corrected by a person" in html
    analyst = as_user(users["analyst"])
    refused = analyst.post(reverse("feedback:correct", args=[row.pk]), {"sentiment": "positive"})
    assert refused.status_code == 403


def test_items_appear_on_the_customer_timeline(corpus, users, lin):
    html = as_user(users["admin"]).get(reverse("customers:detail", args=[lin.pk])).content.decode()
    assert "Feedback (Call notes)" in html
    assert reverse("feedback:item", args=[FeedbackItem.objects.filter(customer=lin)[0].pk]) in html
