"""Negative feedback above the severity threshold opens (or joins) a case through the case rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rapport.cases.models import Case
from rapport.feedback.actions import record_feedback
from tests.feedback.conftest import NEGATIVE_EN, POSITIVE_EN, item

pytestmark = pytest.mark.django_db


def test_severe_negative_feedback_opens_a_case(lin, users, feedback_rule, settings):
    settings.RAPPORT_FEEDBACK_CASE_SEVERITY = 0.0
    record_feedback([item(NEGATIVE_EN, customer_id=lin.pk, title="Broken again")])
    case = Case.objects.get(customer=lin)
    assert case.source == "feedback"
    assert NEGATIVE_EN in case.description
    assert case.subject == "Broken again"
    # a second complaint joins the open case
    record_feedback([item(NEGATIVE_EN + " Still waiting.", customer_id=lin.pk)])
    assert Case.objects.filter(customer=lin).count() == 1


def test_no_case_without_a_feedback_rule(lin, settings):
    from rapport.cases.models import CaseRule

    CaseRule.objects.filter(condition="sentiment_at_most").delete()
    settings.RAPPORT_FEEDBACK_CASE_SEVERITY = 0.0
    record_feedback([item(NEGATIVE_EN, customer_id=lin.pk)])
    assert not Case.objects.exists()


def test_no_case_below_the_threshold_for_praise_for_strangers_or_for_old_feedback(
    lin, feedback_rule, settings
):
    settings.RAPPORT_FEEDBACK_CASE_SEVERITY = 0.0
    old = timezone.now() - dt.timedelta(days=400)
    record_feedback(
        [
            item(POSITIVE_EN, customer_id=lin.pk),
            item(NEGATIVE_EN, author_contact="nobody@example.com"),
            item(NEGATIVE_EN, customer_id=lin.pk, received_at=old),
        ]
    )
    assert not Case.objects.exists()
    settings.RAPPORT_FEEDBACK_CASE_SEVERITY = 1.01  # nothing is that severe
    record_feedback([item(NEGATIVE_EN, customer_id=lin.pk)])
    assert not Case.objects.exists()


def test_a_rule_limited_to_another_unit_does_not_fire(lin, feedback_rule, org, settings):
    settings.RAPPORT_FEEDBACK_CASE_SEVERITY = 0.0
    feedback_rule.unit = org["south"]
    feedback_rule.save()
    record_feedback([item(NEGATIVE_EN, customer_id=lin.pk)])  # lin is in Taipei (north)
    assert not Case.objects.exists()
