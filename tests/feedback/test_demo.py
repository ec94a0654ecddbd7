"""load_feedback: trilingual items and a campaign with a control group for the demo company."""

from __future__ import annotations

import datetime as dt

import pytest

from rapport.customers.models import Customer
from rapport.feedback import campaigns
from rapport.feedback.demo import load_feedback
from rapport.feedback.models import Campaign, FeedbackItem

pytestmark = pytest.mark.django_db


def test_demo_feedback_and_campaign(org):
    Customer.objects.bulk_create(
        [
            Customer(
                display_name=f"C{i}",
                home_unit=org["taipei"] if i % 2 else org["kaohsiung"],
                preferred_language=("en", "zh-hant", "zh-hans")[i % 3],
            )
            for i in range(400)
        ]
    )
    as_of = dt.date(2026, 11, 20)
    summary = load_feedback(seed=5, as_of=as_of)
    assert summary.items == FeedbackItem.objects.count() == 100
    languages = set(FeedbackItem.objects.values_list("language", flat=True))
    assert {"en", "zh-Hant", "zh-Hans"} <= languages
    assert set(FeedbackItem.objects.values_list("sentiment", flat=True)) == {
        "negative",
        "neutral",
        "positive",
    }
    campaign = Campaign.objects.get()
    assert (summary.campaign_members, summary.control) == (400, 80)
    (row,) = campaigns.results(campaign)
    assert row.treatment.total == 320 and row.lift.difference is not None
    assert row.lift.difference > 0
    # loading again adds nothing
    assert load_feedback(seed=5, as_of=as_of).items == 0
    assert FeedbackItem.objects.count() == 100
