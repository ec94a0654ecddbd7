"""Feedback from events: open-text survey answers (`response.completed`) and new customer mail
(`email.received`, from the cases inbox) become feedback items.

Subscribers run in the emitter's transaction and must be quick: they pick what concerns them
and hand it to the worker (rapport.feedback.tasks), whose rows commit with the emitter's work.
Payloads are read defensively: a missing or odd key skips that payload, never the emitter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rapport.core.events import subscribe

log = logging.getLogger(__name__)

EMAIL_TEXT_CHARS = 100_000


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@subscribe("response.completed")
def on_responses_completed(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """Queue the analysis of the responses' open-text answers (none for a response known to
    have no open text: the common case on the answering path)."""
    from rapport.feedback.tasks import analyse_survey_answers

    ids = [
        i
        for p in payloads
        if p.get("has_text") is not False and (i := _int(p.get("response_id"))) is not None
    ]
    for start in range(0, len(ids), 1000):
        analyse_survey_answers.enqueue(ids[start : start + 1000])


def email_item(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The feedback fields of one `email.received` payload, or None when the mail is about a
    case (a reply to one) or carries nothing to read."""
    if payload.get("reply_to_case_id") or payload.get("case_id"):
        return None
    inbound_id = _int(payload.get("inbound_id"))
    text = payload.get("text")
    subject = payload.get("subject")
    text = text if isinstance(text, str) else ""
    subject = subject if isinstance(subject, str) else ""
    if inbound_id is None or not (text.strip() or subject.strip()):
        return None
    sender = payload.get("from")
    return {
        "inbound_id": inbound_id,
        "customer_id": _int(payload.get("customer_id")),
        "subject": subject[:300],
        "text": text[:EMAIL_TEXT_CHARS],
        "from": sender[:254] if isinstance(sender, str) else "",
        "received_at": _str_or_none(payload.get("received_at")),
        "language": _str_or_none(payload.get("language")) or "",
    }


@subscribe("email.received")
def on_email_received(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """Mail that is not about a case is feedback: queue it for the intake."""
    from rapport.feedback.tasks import record_emails

    items = [e for p in payloads if isinstance(p, Mapping) and (e := email_item(p)) is not None]
    if items:
        record_emails.enqueue(items)
