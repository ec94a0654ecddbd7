"""Background work of feedback: analysing open-text survey answers and recording customer mail
(queued by rapport.feedback.subscribers), each through rapport.feedback.actions.record_feedback."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django_tasks import task

from rapport.feedback.actions import record_feedback
from rapport.feedback.records import FeedbackInput, clean_text

SURVEY_SOURCE = "survey"
EMAIL_SOURCE = "email"


@task()
def analyse_survey_answers(response_ids: list[int]) -> int:
    """One feedback item (channel survey) per non-empty open-text answer of these completed
    responses; idempotent (external id response:question). Returns how many were created."""
    from rapport.surveys import questions as q
    from rapport.surveys.models import Answer

    rows = (
        Answer.objects.filter(response_id__in=response_ids, question__type=q.TEXT)
        .exclude(value_text="")
        .select_related("response")
        .order_by("response_id", "question_id")
    )
    items = []
    for a in rows:
        r = a.response
        items.append(
            FeedbackInput(
                text=clean_text(a.value_text),
                channel="survey",
                received_at=r.completed_at,
                external_id=f"response:{r.pk}:question:{a.question_id}",
                customer_id=r.customer_id,
                unit_id=r.unit_id,
                staff_id=r.staff_id,
                touchpoint_id=r.touchpoint_id,
                meta={"response_id": r.pk, "survey_id": r.survey_id, "question_id": a.question_id},
            )
        )
    done = record_feedback(items, source=SURVEY_SOURCE) if items else []
    return sum(d.status == "created" for d in done)


@task()
def record_emails(payloads: list[dict[str, Any]]) -> int:
    """Feedback items (channel email) for new customer mail; the cases inbox decides about cases
    itself, so these open none. Idempotent on the inbound mail's id."""
    items = []
    for p in payloads:
        at = None
        if p.get("received_at"):
            try:
                at = dt.datetime.fromisoformat(p["received_at"])
            except ValueError:
                at = None
        sender = p.get("from") or ""
        items.append(
            FeedbackInput(
                text=clean_text(p.get("text")),
                title=clean_text(p.get("subject"))[:300],
                channel="email",
                received_at=at if at is not None and at.tzinfo is not None else None,
                external_id=f"inbound:{p['inbound_id']}",
                customer_id=p.get("customer_id"),
                author_contact=sender if not p.get("customer_id") else "",
                meta={"inbound_id": p["inbound_id"]},
            )
        )
    done = record_feedback(items, source=EMAIL_SOURCE, open_cases=False)
    return sum(d.status == "created" for d in done)
