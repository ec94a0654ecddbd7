"""Webhook subscriptions and their deliveries over HTTP, and the list of event types.

Thin: the operations live in rapport.integrations.actions (shared with the UI). A subscription's
signing secret is in the answer to its creation only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from rapport.core.apiutil import ApiError, auth
from rapport.core.events import EVENT_TYPES
from rapport.integrations import actions
from rapport.integrations.models import WebhookDelivery, WebhookSubscription

router = Router(tags=["webhooks"])

MAX_PAGE_SIZE = 200


class EventType(Schema):
    type: str
    description: str


class SubscriptionIn(Schema):
    url: str = Field(description="http(s) URL that receives a POST per event")
    event_types: list[str] = Field(description='event types, or ["*"] for every event')
    description: str = ""
    active: bool = True


class SubscriptionPatch(Schema):
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    active: bool | None = None


class SubscriptionOut(Schema):
    id: int
    url: str
    description: str
    event_types: list[str]
    active: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="the signing secret, shown this once: store it now")


class DeliveryOut(Schema):
    id: int
    event_id: str
    event_type: str
    status: str = Field(description="pending | retrying | delivered | failed")
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    page: int
    page_size: int
    has_next: bool


def subscription_out(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": sub.pk,
        "url": sub.url,
        "description": sub.description,
        "event_types": sub.event_types,
        "active": sub.active,
        "created_at": sub.created_at,
    }


def _invalid(exc: actions.IntegrationError) -> ApiError:
    return ApiError(
        422,
        str(exc),
        "validation_error",
        [{"loc": ["body", exc.field] if exc.field else ["body"], "msg": str(exc)}],
    )


@router.get("/events", auth=auth(None), response=list[EventType], tags=["events"])
def list_events(request: HttpRequest) -> list[dict[str, str]]:
    """Every event type a webhook can subscribe to."""
    return [{"type": name, "description": str(text)} for name, text in EVENT_TYPES.items()]


@router.get("/webhooks", auth=auth("webhooks:manage"), response=list[SubscriptionOut])
def list_webhooks(request: HttpRequest) -> list[dict[str, Any]]:
    return [subscription_out(s) for s in WebhookSubscription.objects.order_by("pk")]


@router.post("/webhooks", auth=auth("webhooks:manage"), response={201: SubscriptionCreated})
def create_webhook(request: HttpRequest, payload: SubscriptionIn) -> tuple[int, dict[str, Any]]:
    """Subscribe a URL; the answer holds the signing secret, which is not shown again."""
    try:
        sub = actions.create_subscription(**payload.dict())
    except actions.IntegrationError as exc:
        raise _invalid(exc) from exc
    return 201, {**subscription_out(sub), "secret": sub.secret}


@router.get("/webhooks/{webhook_id}", auth=auth("webhooks:manage"), response=SubscriptionOut)
def get_webhook(request: HttpRequest, webhook_id: int) -> dict[str, Any]:
    return subscription_out(get_object_or_404(WebhookSubscription, pk=webhook_id))


@router.patch("/webhooks/{webhook_id}", auth=auth("webhooks:manage"), response=SubscriptionOut)
def update_webhook(
    request: HttpRequest, webhook_id: int, payload: SubscriptionPatch
) -> dict[str, Any]:
    sub = get_object_or_404(WebhookSubscription, pk=webhook_id)
    try:
        actions.update_subscription(sub, **payload.dict(exclude_unset=True))
    except actions.IntegrationError as exc:
        raise _invalid(exc) from exc
    return subscription_out(sub)


@router.delete("/webhooks/{webhook_id}", auth=auth("webhooks:manage"), response={204: None})
def delete_webhook(request: HttpRequest, webhook_id: int) -> tuple[int, None]:
    actions.delete_subscription(get_object_or_404(WebhookSubscription, pk=webhook_id))
    return 204, None


@router.get(
    "/webhooks/{webhook_id}/deliveries", auth=auth("webhooks:manage"), response=DeliveryPage
)
def list_deliveries(
    request: HttpRequest,
    webhook_id: int,
    status: str = Query("", description="pending | retrying | delivered | failed"),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    """The delivery log of a subscription, newest first."""
    sub = get_object_or_404(WebhookSubscription, pk=webhook_id)
    qs = sub.deliveries.all()
    if status:
        if status not in WebhookDelivery.Status.values:
            raise ApiError(
                422,
                _("Unknown status %(status)s.") % {"status": status},
                "validation_error",
                [{"loc": ["query", "status"], "msg": ", ".join(WebhookDelivery.Status.values)}],
            )
        qs = qs.filter(status=status)
    start = (page - 1) * page_size
    rows = list(qs.order_by("-created_at", "-pk")[start : start + page_size + 1])
    return {
        "items": [
            {
                "id": d.pk,
                "event_id": str(d.event_id),
                "event_type": d.event_type,
                "status": d.status,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at
                if d.status in ("pending", "retrying")
                else None,
                "last_attempt_at": d.last_attempt_at,
                "last_status_code": d.last_status_code,
                "last_error": d.last_error,
                "created_at": d.created_at,
                "delivered_at": d.delivered_at,
            }
            for d in rows[:page_size]
        ],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }
