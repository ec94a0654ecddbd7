"""Feedback fixtures: customers per branch, tasks run at once, mail in memory, and the real
analyser (the model Rapport ships; RAPPORT_FEEDBACK_MODEL_DIR in the environment points a
development checkout without a trained model at another one)."""

from __future__ import annotations

import os

import pytest

from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.feedback.records import FeedbackInput

NEGATIVE_EN = "Terrible service, the staff were rude and the repair failed again. I am furious."
NEGATIVE_ZH = "服務態度非常差,修了三次還是壞的,太失望了!"
POSITIVE_EN = "Excellent service, friendly staff, the car was ready early. Thank you!"


@pytest.fixture(autouse=True)
def feedback_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    if os.environ.get("RAPPORT_FEEDBACK_MODEL_DIR"):
        settings.RAPPORT_FEEDBACK_MODEL_DIR = os.environ["RAPPORT_FEEDBACK_MODEL_DIR"]


@pytest.fixture
def lin(org):
    c = Customer.objects.create(
        display_name="Lin Mei",
        email="lin@example.com",
        phone="+886912345678",
        preferred_language="zh-hant",
        home_unit=org["taipei"],
    )
    src = SourceSystem.objects.get_or_create(code="reviews", defaults={"name": "reviews"})[0]
    CustomerIdentity.objects.create(source=src, external_id="R-1", customer=c)
    return c


@pytest.fixture
def bob(org):
    return Customer.objects.create(
        display_name="Bob Chen", email="bob@example.com", home_unit=org["kaohsiung"]
    )


def item(text: str = NEGATIVE_EN, **fields) -> FeedbackInput:  # type: ignore[no-untyped-def]
    return FeedbackInput(text=text, **fields)


@pytest.fixture
def feedback_rule(db):
    from rapport.cases.models import CaseRule

    # the default installation has this rule already (rapport.cases.rules.DEFAULT_RULES)
    rule, _ = CaseRule.objects.update_or_create(
        key="negative-feedback",
        defaults={
            "name": "Strongly negative feedback",
            "condition": "sentiment_at_most",
            "params": {"max": -0.3},
            "severity": "medium",
            "active": True,
        },
    )
    return rule
