"""Feedback over HTTP (/api/v1/feedback): batch intake (call notes, chat transcripts, reviews),
a filtered list, one item, and corrections.

Writes go through rapport.feedback.actions (one intake path); sending a record again is a no-op
answered "duplicate". API keys need the scope feedback:write / feedback:read; a logged-in user
needs the feedback permissions and sees only their unit's subtree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from rapport.core import apiutil
from rapport.core.apiutil import ApiError, auth, principal
from rapport.feedback import actions
from rapport.feedback.models import FeedbackItem
from rapport.org.models import OrgUnit

router = Router(tags=["feedback"])

MAX_PAGE_SIZE = 500
WRITE_SCOPES = ("feedback:write",)
READ_SCOPES = ("feedback:read",)
CORRECT_SCOPES = ("feedback:write",)


def _allow(request: HttpRequest, scopes: tuple[str, ...], permission: str) -> None:
    who = principal(request)
    if who.key is not None:
        if not set(scopes) & set(who.key.scopes or ()):
            raise ApiError(
                403,
                _("This API key lacks the scope %(scope)s.") % {"scope": scopes[0]},
                "forbidden",
            )
    elif not who.user.has_perm(permission):
        raise ApiError(403, _("You do not have permission to do this."), "forbidden")


class FeedbackOut(Schema):
    id: int
    received_at: datetime
    channel: str
    source: str
    external_id: str
    customer: int | None
    unit: str | None
    staff: str | None
    campaign: str | None
    title: str
    text: str
    rating: int | None
    author_name: str
    language: str
    sentiment: str
    sentiment_score: float | None
    causes: list[list[Any]]
    themes: list[list[Any]]
    severity: float
    model_version: str
    corrected_at: datetime | None


class FeedbackPage(Schema):
    items: list[FeedbackOut]
    next_cursor: str | None


class CorrectionIn(Schema):
    sentiment: str | None = None
    causes: list[str] | None = None
    themes: list[str] | None = None


def _out(item: FeedbackItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "received_at": item.received_at,
        "channel": item.channel,
        "source": item.source,
        "external_id": item.external_id,
        "customer": item.customer_id,
        "unit": item.unit.code if item.unit_id else None,
        "staff": item.staff.code if item.staff_id else None,
        "campaign": item.campaign.key if item.campaign_id else None,
        "title": item.title,
        "text": item.text,
        "rating": item.rating,
        "author_name": item.author_name,
        "language": item.language,
        "sentiment": item.sentiment,
        "sentiment_score": item.sentiment_score,
        "causes": item.causes or [],
        "themes": item.themes or [],
        "severity": item.severity,
        "model_version": item.model_version,
        "corrected_at": item.corrected_at,
    }


def _related(qs: Any) -> Any:
    return qs.select_related("unit", "staff", "campaign")


@router.post(
    "",
    auth=auth(None),
    response={200: apiutil.BulkResult},
    openapi_extra=apiutil.BULK_OPENAPI,
    summary="Send feedback (JSON array or NDJSON, up to 10,000 records)",
)
def post_feedback(request: HttpRequest, source: str = "api") -> HttpResponse:
    """Each record needs `text`; `external_id` makes sending it again a no-op ("duplicate").
    Customers are found by customer_id, customer_external_id (of this source), customer_email
    or customer_phone; an unknown sender is kept as author_name / author_contact."""
    _allow(request, WRITE_SCOPES, "feedback.add_feedbackitem")
    return apiutil.bulk_ingest(request, actions.ingest_feedback, source)


def _after(cursor: str) -> Q:
    at_text, _sep, pk_text = cursor.rpartition("~")
    try:
        at = parse_datetime(at_text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or not pk_text.isdigit():
        raise ApiError(
            422,
            _("The cursor is not valid."),
            "validation_error",
            [{"loc": ["query", "cursor"], "msg": _("use next_cursor from a previous page")}],
        )
    return Q(received_at__lt=at) | Q(received_at=at, pk__lt=int(pk_text))


@router.get("", auth=auth(None), response=FeedbackPage)
def list_feedback(
    request: HttpRequest,
    customer: int | None = Query(None, description="customer id"),
    channel: str = Query(""),
    sentiment: str = Query("", description="negative | neutral | positive"),
    cause: str = Query("", description="one of the eight churn causes"),
    theme: str = Query("", description="theme key"),
    unit: str = Query("", description="unit code: that unit and the units under it"),
    source: str = Query(""),
    external_id: str = Query(""),
    date_from: str = Query("", alias="from", description="ISO date or date-time (inclusive)"),
    date_to: str = Query("", alias="to", description="ISO date or date-time (a date: inclusive)"),
    cursor: str = Query("", description="next_cursor of the previous page"),
    limit: int = Query(100, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    """Newest first, by keyset pages."""
    _allow(request, READ_SCOPES, "feedback.view_feedbackitem")
    qs = principal(request).scoped(FeedbackItem.objects.all(), "unit")
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    for name, value in (("channel", channel), ("sentiment", sentiment), ("source", source)):
        if value:
            qs = qs.filter(**{name: value})
    if external_id:
        qs = qs.filter(external_id=external_id)
    if cause:
        qs = qs.filter(labels__kind="cause", labels__key=cause)
    if theme:
        qs = qs.filter(labels__kind="theme", labels__key=theme)
    if unit:
        path = OrgUnit.objects.filter(code=unit).values_list("path", flat=True).first()
        if path is None:
            raise ApiError(
                422,
                _("Unknown unit %(code)s.") % {"code": unit},
                "validation_error",
                [{"loc": ["query", "unit"], "msg": _("no unit with this code")}],
            )
        qs = qs.filter(unit__path__startswith=path)
    if since := apiutil.parse_instant(date_from, "from"):
        qs = qs.filter(received_at__gte=since)
    if until := apiutil.parse_instant(date_to, "to", end=True):
        qs = qs.filter(received_at__lt=until)
    if cursor:
        qs = qs.filter(_after(cursor))
    rows = list(_related(qs).order_by("-received_at", "-pk")[: limit + 1])
    shown = rows[:limit]
    return {
        "items": [_out(i) for i in shown],
        "next_cursor": (
            f"{shown[-1].received_at.isoformat()}~{shown[-1].pk}" if len(rows) > limit else None
        ),
    }


@router.get("/{item_id}", auth=auth(None), response=FeedbackOut)
def get_feedback(request: HttpRequest, item_id: int) -> dict[str, Any]:
    _allow(request, READ_SCOPES, "feedback.view_feedbackitem")
    item = apiutil.get_visible(_related(FeedbackItem.objects), request, "unit", pk=item_id)
    return _out(item)  # type: ignore[arg-type]


@router.post("/{item_id}/corrections", auth=auth(None), response=FeedbackOut)
def correct_feedback(request: HttpRequest, item_id: int, body: CorrectionIn) -> dict[str, Any]:
    """Relabel sentiment, causes and/or themes (fields left out stay as they are); every change
    is kept as a correction, training data for `rapport feedback train`."""
    _allow(request, CORRECT_SCOPES, "feedback.add_correction")
    item = apiutil.get_visible(FeedbackItem.objects, request, "unit", pk=item_id)
    who = principal(request)
    try:
        actions.correct(
            item,  # type: ignore[arg-type]
            who.user,
            sentiment=body.sentiment,
            causes=body.causes,
            themes=body.themes,
        )
    except actions.CorrectionError as exc:
        field = str(exc).split(":", 1)[0]
        raise ApiError(
            422, str(exc), "validation_error", [{"loc": ["body", field], "msg": str(exc)}]
        ) from exc
    return _out(_related(FeedbackItem.objects).get(pk=item_id))
