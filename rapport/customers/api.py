"""Customers over HTTP: bulk create/update, search, the profile, and the timeline.

Thin: parsing and authorisation here, the work in rapport.customers.ingest (writes), the
search of rapport.customers.views and the timeline registry (reads). Unit managers and agents
see only customers of their subtree; another unit's customer is a 404.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from rapport.core import apiutil
from rapport.core.apiutil import ApiError, auth, get_visible, principal
from rapport.customers import timeline
from rapport.customers.ingest import ingest_customers
from rapport.customers.models import Customer
from rapport.customers.views import search
from rapport.org.models import OrgUnit

router = Router(tags=["customers"])

MAX_PAGE_SIZE = 200


class CustomerOut(Schema):
    id: int
    display_name: str
    email: str
    phone: str
    preferred_language: str
    home_unit: str | None
    merged_into: int | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class IdentityOut(Schema):
    source: str
    external_id: str
    created_at: datetime


class ConsentOut(Schema):
    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime


class CustomerDetail(CustomerOut):
    identities: list[IdentityOut]
    consent: list[ConsentOut]


class CustomerPage(Schema):
    items: list[CustomerOut]
    page: int
    page_size: int
    has_next: bool


class TimelineEntry(Schema):
    type: str = Field(description="the entry type: touchpoint (later: survey responses, cases)")
    id: int
    occurred_at: datetime
    title: str
    kind: str | None = None
    channel: str | None = None
    unit: str | None = None
    staff: str | None = None
    source: str | None = None
    external_id: str | None = None
    amount: Decimal | None = None
    margin: Decimal | None = None
    currency: str | None = None
    context: dict[str, Any] | None = None


class TimelinePage(Schema):
    items: list[TimelineEntry]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


def customer_out(c: Customer) -> dict[str, Any]:
    return {
        "id": c.pk,
        "display_name": c.display_name,
        "email": c.email,
        "phone": c.phone,
        "preferred_language": c.preferred_language,
        "home_unit": c.home_unit.code if c.home_unit_id else None,
        "merged_into": c.merged_into_id,
        "attributes": c.attributes,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def timeline_entry(entry: timeline.Entry) -> dict[str, Any]:
    """An entry as JSON; touchpoints carry their fields, other types their common ones."""
    out: dict[str, Any] = {
        "type": entry.type,
        "id": entry.id,
        "occurred_at": entry.occurred_at,
        "title": str(entry.title),
    }
    if entry.type == "touchpoint":
        tp = entry.object
        out.update(
            kind=tp.kind,
            channel=tp.channel,
            unit=tp.unit.code if tp.unit_id else None,
            staff=tp.staff.code if tp.staff_id else None,
            source=tp.source.code,
            external_id=tp.external_id,
            amount=tp.amount,
            margin=tp.margin,
            currency=tp.currency or None,
            context=tp.context,
        )
    return out


@router.post(
    "",
    auth=auth("customers:write"),
    response={200: apiutil.BulkResult},
    openapi_extra=apiutil.BULK_OPENAPI,
    summary="Create or update customers (JSON array or NDJSON, up to 10,000 records)",
)
def post_customers(request: HttpRequest, source: str = "api") -> HttpResponse:
    """Each record is validated on its own; the answer gives every record's status (created,
    updated, duplicate, rejected with the reasons, or review when its identity is ambiguous)."""
    return apiutil.bulk_ingest(request, ingest_customers, source)


@router.get("", auth=auth("customers:read"), response=CustomerPage)
def list_customers(
    request: HttpRequest,
    q: str = Query("", description="name (part of it), email, phone or an external id"),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    qs = principal(request).scoped(Customer.objects.all(), "home_unit")
    qs = search(qs.filter(merged_into__isnull=True), q).select_related("home_unit")
    start = (page - 1) * page_size
    rows = list(qs.order_by("display_name", "pk")[start : start + page_size + 1])
    return {
        "items": [customer_out(c) for c in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }


def visible_customer(request: HttpRequest, customer_id: int) -> Customer:
    return get_visible(  # type: ignore[return-value]
        Customer.objects.select_related("home_unit"), request, "home_unit", pk=customer_id
    )


@router.get("/{customer_id}", auth=auth("customers:read"), response=CustomerDetail)
def get_customer(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    """The profile with identities and consent. A merged customer answers with `merged_into`
    set: follow it to the survivor."""
    c = visible_customer(request, customer_id)
    out = customer_out(c)
    out["identities"] = [
        {"source": i.source.code, "external_id": i.external_id, "created_at": i.created_at}
        for i in c.identities.select_related("source").order_by("source__code", "external_id")
    ]
    out["consent"] = [
        {
            "channel": k.channel,
            "purpose": k.purpose,
            "granted": k.granted,
            "source": k.source,
            "recorded_at": k.recorded_at,
        }
        for k in c.consents.order_by("channel", "purpose")
    ]
    return out


@router.get("/{customer_id}/timeline", auth=auth("customers:read"), response=TimelinePage)
def get_timeline(
    request: HttpRequest,
    customer_id: int,
    type: str = Query("", description="only entries of this type, e.g. touchpoint"),
    kind: str = Query("", description="touchpoint kind, e.g. service_visit"),
    channel: str = Query(""),
    unit: str = Query("", description="unit code: that unit and the units under it"),
    date_from: str = Query("", alias="from", description="ISO date or date-time (inclusive)"),
    date_to: str = Query("", alias="to", description="ISO date or date-time (a date: inclusive)"),
    cursor: str = Query("", description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    """Newest first, a page at a time (keyset: any page costs what the first does)."""
    customer = visible_customer(request, customer_id)
    unit_path = ""
    if unit:
        found = OrgUnit.objects.filter(code=unit).values_list("path", flat=True).first()
        if found is None:
            raise ApiError(
                422,
                _("Unknown unit %(code)s.") % {"code": unit},
                "validation_error",
                [{"loc": ["query", "unit"], "msg": _("no unit with this code")}],
            )
        unit_path = found
    before = timeline.Cursor.parse(cursor)
    if cursor and before is None:
        raise ApiError(
            422,
            _("The cursor is not valid."),
            "validation_error",
            [{"loc": ["query", "cursor"], "msg": _("use next_cursor from a previous page")}],
        )
    filters = timeline.Filters(
        type=type,
        kind=kind,
        channel=channel,
        unit_path=unit_path,
        since=apiutil.parse_instant(date_from, "from"),
        until=apiutil.parse_instant(date_to, "to", end=True),
    )
    page = timeline.page(customer, filters, before, limit)
    return {
        "items": [timeline_entry(e) for e in page.entries],
        "next_cursor": str(page.next_cursor) if page.next_cursor else None,
    }
