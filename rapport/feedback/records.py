"""What a valid feedback record is: the documented fields → a FeedbackInput. Plain code, no ORM.

Every channel (API, CSV import, mail, the public form, survey answers) ends as FeedbackInput and
goes through rapport.feedback.actions.record_feedback. Text is data: it is kept as sent, only
made storable (NUL bytes and lone surrogates, which no database takes, become U+FFFD) and cut
at MAX_TEXT characters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from rapport.core.ingestion import Problem, unknown_field_message, unknown_fields

MAX_TEXT = 1_000_000  # characters kept of one text (1 MB of ASCII)
ANALYSED_CHARS = 20_000  # characters the analyser reads of one text
CHANNEL_CODES = (
    "form",
    "widget",
    "email",
    "call",
    "chat",
    "review",
    "app_store",
    "survey",
    "api",
    "import",
)
CUSTOMER_FIELDS = ("customer_id", "customer_external_id", "customer_email", "customer_phone")
FIELDS = frozenset(
    {
        "text",
        "title",
        "external_id",
        "channel",
        "received_at",
        *CUSTOMER_FIELDS,
        "author_name",
        "author_contact",
        "unit",
        "staff",
        "language",
        "rating",
        "campaign",
    }
)
META_PREFIX = "meta."
REQUIRED_COLUMNS = ("text",)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SHORT = {"title": 300, "external_id": 200, "author_name": 200, "author_contact": 254}


@dataclass
class FeedbackInput:
    """One piece of feedback to record; ids already resolved where the caller knew them."""

    text: str
    channel: str = "api"
    received_at: dt.datetime | None = None  # None: now
    title: str = ""
    external_id: str = ""
    customer_id: int | None = None
    customer_external_id: str = ""
    customer_email: str = ""
    customer_phone: str = ""
    author_name: str = ""
    author_contact: str = ""
    unit_code: str = ""
    unit_id: int | None = None
    staff_code: str = ""
    staff_id: int | None = None
    touchpoint_id: int | None = None
    campaign_key: str = ""
    language: str = ""
    rating: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    client_hash: str = ""


def clean_text(value: Any) -> str:
    """Text as it can be stored: bytes decoded (invalid sequences replaced), NUL bytes and lone
    surrogates replaced, at most MAX_TEXT characters."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    elif not isinstance(value, str):
        value = str(value)
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT]
    return _UNSTORABLE.sub("\ufffd", value)


def _str(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    text = clean_text(value).strip()
    limit = _SHORT.get(name)
    return text[:limit] if limit else text


def parse_instant(value: Any, default_tz: dt.tzinfo) -> dt.datetime | None:
    """An ISO date-time (or date) → aware UTC; a naive time is read in `default_tz`."""
    if isinstance(value, dt.datetime):
        at = value
    else:
        text = str(value).strip()
        try:
            at = parse_datetime(text)
            if at is None:
                day = parse_date(text)
                at = dt.datetime.combine(day, dt.time()) if day else None
        except ValueError:
            at = None
        if at is None:
            return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=default_tz)
    return at.astimezone(dt.UTC)


def parse(
    record: Mapping[str, Any],
    line: int,
    *,
    default_channel: str,
    default_tz: dt.tzinfo,
    latest: dt.datetime,
) -> FeedbackInput | list[Problem]:
    """A record as sent (API JSON, CSV row after --map) → FeedbackInput, or its problems, each
    naming the field."""
    problems: list[Problem] = []
    for name in unknown_fields(record, FIELDS, (META_PREFIX,)):
        problems.append(Problem(line, name, unknown_field_message(name)))
    text = record.get("text")
    if isinstance(text, dict | list):
        problems.append(Problem(line, "text", _("must be text")))
        text = ""
    channel = _str(record, "channel") or default_channel
    if channel not in CHANNEL_CODES:
        problems.append(
            Problem(
                line,
                "channel",
                _("unknown channel %(c)r; use one of %(all)s")
                % {"c": channel, "all": ", ".join(CHANNEL_CODES)},
            )
        )
    received_at = None
    raw_at = record.get("received_at")
    if raw_at not in (None, ""):
        received_at = parse_instant(raw_at, default_tz)
        if received_at is None:
            problems.append(
                Problem(line, "received_at", _("expected an ISO 8601 date or date-time"))
            )
        elif received_at > latest:
            problems.append(Problem(line, "received_at", _("is in the future")))
    rating = None
    raw_rating = record.get("rating")
    if raw_rating not in (None, ""):
        try:
            rating = round(float(str(raw_rating).strip()))
        except ValueError:
            rating = None
        if rating is None or not -100 <= rating <= 100:
            problems.append(Problem(line, "rating", _("expected a number, e.g. 1 to 5")))
            rating = None
    customer_id = None
    raw_cid = record.get("customer_id")
    if raw_cid not in (None, ""):
        try:
            customer_id = int(str(raw_cid).strip())
        except ValueError:
            problems.append(Problem(line, "customer_id", _("expected a whole number")))
    if problems:
        return problems
    meta = {
        k[len(META_PREFIX) :]: clean_text(v) if isinstance(v, str) else v
        for k, v in record.items()
        if k.startswith(META_PREFIX)
    }
    return FeedbackInput(
        text=clean_text(text),
        channel=channel,
        received_at=received_at,
        title=_str(record, "title"),
        external_id=_str(record, "external_id"),
        customer_id=customer_id,
        customer_external_id=_str(record, "customer_external_id"),
        customer_email=_str(record, "customer_email"),
        customer_phone=_str(record, "customer_phone"),
        author_name=_str(record, "author_name"),
        author_contact=_str(record, "author_contact"),
        unit_code=_str(record, "unit"),
        staff_code=_str(record, "staff"),
        campaign_key=_str(record, "campaign"),
        language=_str(record, "language")[:16],
        rating=rating,
        meta=meta,
    )
