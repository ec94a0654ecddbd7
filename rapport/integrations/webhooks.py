"""Outgoing webhooks: the outbox writer and delivery.

`write_outbox` runs inside the transaction that emitted the event (rapport.core.events), so a
delivery row exists exactly when the change was committed. After the commit one task per
transaction asks the worker to send promptly; the worker's periodic job also sends whatever is due
(retries, and anything the task missed).

Sending claims each delivery with a conditional UPDATE (still due? then push `next_attempt_at` a
lease ahead), so two workers never send one delivery twice; a worker that dies mid-send leaves
the delivery due again when the lease runs out (at-least-once: receivers dedupe on the event id).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from rapport.integrations.models import (
    SubscriptionStamp,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from rapport.integrations.rules import (
    is_success,
    retry_delay,
    signature,
    truncated,
    webhook_url_problem,
)

log = logging.getLogger(__name__)

DUE_STATUSES = (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING)
LEASE = timedelta(minutes=5)  # far longer than one POST may take (the timeout)
USER_AGENT = "Rapport-Webhooks/1"


def envelope(event_type: str, payload: Mapping[str, Any], created_at: datetime) -> dict:
    """The JSON body a receiver gets, with the payload made JSON-safe (decimals, datetimes)."""
    body = {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "created_at": created_at.isoformat(),
        "data": payload,
    }
    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


# This process's copy of the active subscriptions, with the stamp it was read under.
_active: tuple[int, tuple[WebhookSubscription, ...]] | None = None


def _stamp() -> int | None:
    """The subscriptions' current stamp (SubscriptionStamp); None when the row is missing (e.g.
    a test database flushed since the migration), in which case nothing is cached."""
    with connection.cursor() as cursor:
        cursor.execute(_STAMP_SQL)
        row = cursor.fetchone()
    return None if row is None else row[0]


_STAMP_SQL = f"SELECT stamp FROM {SubscriptionStamp._meta.db_table} WHERE id = 1"


def active_subscriptions() -> tuple[WebhookSubscription, ...]:
    """The active subscriptions, read from the database only when they changed since this process
    last read them: every event costs one primary-key read instead of a scan and JSON decoding.

    The stamp is read before the subscriptions, so a change committed in between can only make
    the copy look older than it is (read again next time), never newer. Every write goes through
    the model or its queryset, which change the stamp in the same transaction."""
    global _active
    stamp = _stamp()
    cached = _active
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    subscriptions = tuple(WebhookSubscription.objects.filter(active=True))
    if stamp is not None:
        _active = (stamp, subscriptions)
    return subscriptions


def subscriptions_for(event_type: str) -> list[WebhookSubscription]:
    return [s for s in active_subscriptions() if s.wants(event_type)]


def write_outbox(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """Store one delivery per payload and interested subscription, in the caller's transaction.
    Costs one primary-key read when nobody subscribes."""
    subscriptions = subscriptions_for(event_type)
    if not subscriptions:
        return
    now = timezone.now()
    rows = []
    for payload in payloads:
        body = envelope(event_type, payload, now)
        for sub in subscriptions:
            rows.append(
                WebhookDelivery(
                    subscription_id=sub.pk,
                    event_id=body["id"],
                    event_type=event_type,
                    payload=body,
                    next_attempt_at=now,
                )
            )
    WebhookDelivery.objects.bulk_create(rows, batch_size=500)
    request_prompt_delivery()


def _enqueue_delivery_task() -> None:
    from rapport.integrations.tasks import deliver_webhooks

    try:
        if not _delivery_task_waiting():
            deliver_webhooks.enqueue()
    except Exception:  # the periodic job sends them anyway; never fail the caller's request
        log.exception("could not enqueue the webhook delivery task")


def _delivery_task_waiting() -> bool:
    """Whether a delivery task is already queued and not started (it will see our rows)."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    from rapport.integrations.tasks import deliver_webhooks

    if not isinstance(deliver_webhooks.get_backend(), DatabaseBackend):
        return False
    return DBTaskResult.objects.ready().filter(task_path=deliver_webhooks.module_path).exists()


def request_prompt_delivery() -> None:
    """Enqueue one delivery task after the current transaction commits (once per transaction,
    however many events it emitted)."""
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(
        fn is _enqueue_delivery_task for _sids, fn, _robust in conn.run_on_commit
    ):
        return
    transaction.on_commit(_enqueue_delivery_task)


def claim(delivery_id: int, now: datetime) -> bool:
    """Take a due delivery for one send; False when it is not due or another worker has it."""
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=DUE_STATUSES, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE)
    return taken == 1


def post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, str]:
    """POST without following redirects or proxies; the status code, or None and the error."""
    problem = webhook_url_problem(url)
    if problem:
        return None, problem
    parts = urlsplit(url)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=dict(headers))
        response = conn.getresponse()
        excerpt = response.read(2000).decode("utf-8", "replace")
        if is_success(response.status):
            return response.status, ""
        return response.status, f"HTTP {response.status}: {excerpt}".strip()
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()


def signed_request(
    delivery: WebhookDelivery, now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt (the timestamp is signed with the body)."""
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(now if now is not None else time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Rapport-Event": delivery.event_type,
        "X-Rapport-Delivery": str(delivery.pk),
        "X-Rapport-Timestamp": str(timestamp),
        "X-Rapport-Signature": signature(delivery.subscription.secret, timestamp, body),
    }
    return body, headers


def attempt(delivery_id: int) -> WebhookDelivery:
    """Send one claimed delivery and record the outcome: delivered, retrying (with backoff) or,
    after RAPPORT_WEBHOOK_MAX_ATTEMPTS tries, failed."""
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    started = timezone.now()
    clock = time.monotonic()
    if delivery.subscription.active:
        body, headers = signed_request(delivery)
        timeout = float(getattr(settings, "RAPPORT_WEBHOOK_TIMEOUT", 10))
        status_code, error = post(delivery.subscription.url, body, headers, timeout)
    else:
        status_code, error = None, "the subscription is inactive"
    duration_ms = int((time.monotonic() - clock) * 1000)
    finished = timezone.now()

    delivery.attempts += 1
    delivery.last_attempt_at = started
    delivery.last_status_code = status_code
    delivery.last_error = truncated(error)
    max_attempts = int(settings.RAPPORT_WEBHOOK_MAX_ATTEMPTS)
    if status_code is not None and is_success(status_code):
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = finished
    elif delivery.attempts >= max_attempts or not delivery.subscription.active:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        delivery.status = WebhookDelivery.Status.RETRYING
        delivery.next_attempt_at = finished + timedelta(seconds=retry_delay(delivery.attempts))
    with transaction.atomic():
        delivery.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "last_status_code",
                "last_error",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=started,
            status_code=status_code,
            error=delivery.last_error,
            duration_ms=duration_ms,
        )
    return delivery


def deliver_due(
    stop: threading.Event | None = None, batch: int = 100, budget_seconds: float = 60.0
) -> int:
    """Send due deliveries, oldest first, until none is due, `stop` is set or the time budget is
    spent (the next run continues); return how many were attempted."""
    started = time.monotonic()
    attempted = 0
    while not (stop and stop.is_set()) and time.monotonic() - started < budget_seconds:
        now = timezone.now()
        due = list(
            WebhookDelivery.objects.filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not due:
            break
        for delivery_id in due:
            if stop and stop.is_set():
                break
            if not claim(delivery_id, timezone.now()):
                continue
            try:
                attempt(delivery_id)
            except WebhookDelivery.DoesNotExist:  # its subscription was deleted meanwhile
                continue
            attempted += 1
    return attempted
