"""Touchpoints over HTTP: bulk ingestion, and a filtered list read newest first.

Writes go through rapport.touchpoints.ingest (the one ingestion path); sending a record again
is a no-op reported as "duplicate". Reading is scoped like the customers (by home unit).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from rapport.core import apiutil
from rapport.core.apiutil import ApiError, auth, principal
from rapport.org.models import OrgUnit
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint

router = Router(tags=["touchpoints"])

MAX_PAGE_SIZE = 500


class TouchpointOut(Schema):
    id: int
    customer: int
    occurred_at: datetime
    kind: str
    channel: str
    source: str
    external_id: str
    unit: str | None
    staff: str | None
    amount: Decimal | None
    margin: Decimal | None
    currency: str | None
    context: dict[str, Any]
    created_at: datetime


class TouchpointPage(Schema):
    items: list[TouchpointOut]
    next_cursor: str | None


def _cursor(tp: Touchpoint) -> str:
    return f"{tp.occurred_at.isoformat()}~{tp.pk}"


def _after(cursor: str) -> Q:
    """Touchpoints after `cursor` in (occurred_at, id) descending order."""
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
    return Q(occurred_at__lt=at) | Q(occurred_at=at, pk__lt=int(pk_text))


def _unit_path(code: str) -> str:
    path = OrgUnit.objects.filter(code=code).values_list("path", flat=True).first()
    if path is None:
        raise ApiError(
            422,
            _("Unknown unit %(code)s.") % {"code": code},
            "validation_error",
            [{"loc": ["query", "unit"], "msg": _("no unit with this code")}],
        )
    return path


@router.post(
    "",
    auth=auth("touchpoints:write"),
    response={200: apiutil.BulkResult},
    openapi_extra=apiutil.BULK_OPENAPI,
    summary="Send touchpoints (JSON array or NDJSON, up to 10,000 records)",
)
def post_touchpoints(request: HttpRequest, source: str = "api") -> HttpResponse:
    """Each record is validated on its own; the answer gives every record's status: created,
    duplicate (the same source and external_id was sent before: nothing changed), rejected with
    the reasons, or review when its customer is ambiguous."""
    return apiutil.bulk_ingest(request, ingest_touchpoints, source)


@router.get("", auth=auth("touchpoints:read"), response=TouchpointPage)
def list_touchpoints(
    request: HttpRequest,
    customer: int | None = Query(None, description="customer id"),
    kind: str = Query(""),
    channel: str = Query(""),
    unit: str = Query("", description="unit code: that unit and the units under it"),
    source: str = Query("", description="source system code"),
    external_id: str = Query(""),
    date_from: str = Query("", alias="from", description="ISO date or date-time (inclusive)"),
    date_to: str = Query("", alias="to", description="ISO date or date-time (a date: inclusive)"),
    cursor: str = Query("", description="next_cursor of the previous page"),
    limit: int = Query(100, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    """Newest first, by keyset pages (cheap however deep)."""
    qs = principal(request).scoped(Touchpoint.objects.all(), "customer__home_unit")
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    if kind:
        qs = qs.filter(kind=kind)
    if channel:
        qs = qs.filter(channel=channel)
    if unit:
        qs = qs.filter(unit__path__startswith=_unit_path(unit))
    if source:
        qs = qs.filter(source__code=source)
    if external_id:
        qs = qs.filter(external_id=external_id)
    if since := apiutil.parse_instant(date_from, "from"):
        qs = qs.filter(occurred_at__gte=since)
    if until := apiutil.parse_instant(date_to, "to", end=True):
        qs = qs.filter(occurred_at__lt=until)
    if cursor:
        qs = qs.filter(_after(cursor))
    rows = list(
        qs.select_related("source", "unit", "staff").order_by("-occurred_at", "-pk")[: limit + 1]
    )
    shown = rows[:limit]
    return {
        "items": [
            {
                "id": tp.pk,
                "customer": tp.customer_id,
                "occurred_at": tp.occurred_at,
                "kind": tp.kind,
                "channel": tp.channel,
                "source": tp.source.code,
                "external_id": tp.external_id,
                "unit": tp.unit.code if tp.unit_id else None,
                "staff": tp.staff.code if tp.staff_id else None,
                "amount": tp.amount,
                "margin": tp.margin,
                "currency": tp.currency or None,
                "context": tp.context,
                "created_at": tp.created_at,
            }
            for tp in shown
        ],
        "next_cursor": _cursor(shown[-1]) if len(rows) > limit else None,
    }
