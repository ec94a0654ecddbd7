"""Feedback from events: open-text survey answers, and customer mail not about a case."""

from __future__ import annotations

import pytest

from rapport.core.events import emit
from rapport.feedback.models import FeedbackItem
from rapport.feedback.subscribers import email_item
from rapport.surveys import actions as survey_actions
from rapport.surveys.ingest import ingest_responses
from tests.feedback.conftest import NEGATIVE_EN

pytestmark = pytest.mark.django_db


def test_open_text_answers_become_survey_feedback(lin):
    survey = survey_actions.create_survey_from_template("nps", "NPS", publish=True)
    record = {
        "survey": survey.pk,
        "external_id": "resp-1",
        "completed_at": "2026-11-20T10:00:00+08:00",
        "customer_external_id": "R-1",
        "recommend": 2,
        "why": NEGATIVE_EN,
        "improve": "",
    }
    report = ingest_responses([record], source="reviews", survey=survey.pk)
    assert report.created == 1, report.problems
    row = FeedbackItem.objects.get()
    assert (row.channel, row.source, row.customer_id) == ("survey", "survey", lin.pk)
    assert row.text == NEGATIVE_EN and row.sentiment == "negative"
    assert row.external_id.startswith("response:")
    # the same response completed again (a re-import) adds nothing
    ingest_responses([record], source="reviews", survey=survey.pk)
    assert FeedbackItem.objects.count() == 1


def test_new_mail_not_about_a_case_becomes_feedback(lin):
    payload = {
        "inbound_id": 41,
        "customer_id": lin.pk,
        "from": "lin@example.com",
        "subject": "About my last visit",
        "text": NEGATIVE_EN,
        "language": "en",
        "received_at": "2026-11-20T02:00:00+00:00",
        "reply_to_case_id": None,
    }
    emit_or_call([payload, {**payload, "inbound_id": 42, "reply_to_case_id": 7}])
    row = FeedbackItem.objects.get()
    assert (row.channel, row.external_id, row.customer_id) == ("email", "inbound:41", lin.pk)
    assert row.title == "About my last visit"
    emit_or_call([payload])  # delivered twice: stored once
    assert FeedbackItem.objects.count() == 1


def emit_or_call(payloads):  # type: ignore[no-untyped-def]
    """Through the real event when [cases] declares it, else the subscriber directly."""
    from rapport.core.events import EVENT_TYPES
    from rapport.feedback.subscribers import on_email_received

    if "email.received" in EVENT_TYPES:
        emit("email.received", payloads)
    else:
        on_email_received("email.received", payloads)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"inbound_id": "x", "text": "hi"},
        {"inbound_id": 1, "text": None, "subject": None},
        {"inbound_id": 1, "text": 5, "subject": ["odd"]},
        {"inbound_id": 1, "text": "hi", "case_id": 3},
    ],
)
def test_odd_mail_payloads_are_skipped(payload):
    assert email_item(payload) is None


def test_an_unknown_sender_is_kept_as_author(org):
    emit_or_call([{"inbound_id": 5, "customer_id": None, "from": "x@example.com", "text": "hi"}])
    row = FeedbackItem.objects.get()
    assert row.customer_id is None and row.author_contact == "x@example.com"
