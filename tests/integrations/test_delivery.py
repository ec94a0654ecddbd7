"""Sending webhooks to a real HTTP server: signature, retries with backoff, giving up, claims."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading

from django.test import override_settings
from django.utils import timezone

from rapport.core import events
from rapport.integrations import actions, webhooks
from rapport.integrations.models import WebhookAttempt, WebhookDelivery


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """The receiver's check, exactly as docs/api.md shows it."""
    timestamp = headers["X-Rapport-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["X-Rapport-Signature"])


def test_delivered_with_headers_and_a_valid_signature(db, receiver):
    sub = actions.create_subscription(receiver.url, ["*"])
    events.emit("touchpoint.created", [{"id": 7}])
    assert webhooks.deliver_due() == 1
    (got,) = receiver.requests
    headers = got["headers"]
    assert headers["X-Rapport-Event"] == "touchpoint.created"
    assert headers["Content-Type"] == "application/json"
    assert verify(sub.secret, headers, got["body"])
    assert not verify("another secret", headers, got["body"])
    delivery = WebhookDelivery.objects.get()
    assert headers["X-Rapport-Delivery"] == str(delivery.pk)
    assert delivery.status == "delivered"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.delivered_at is not None
    assert WebhookAttempt.objects.get().status_code == 200
    assert webhooks.deliver_due() == 0  # nothing left


@override_settings(RAPPORT_WEBHOOK_MAX_ATTEMPTS=3)
def test_failing_receiver_is_retried_with_backoff_then_failed(db, receiver):
    receiver.status = 500
    actions.create_subscription(receiver.url, ["*"])
    events.emit("touchpoint.created", [{"id": 7}])

    before = timezone.now()
    webhooks.deliver_due()
    d = WebhookDelivery.objects.get()
    assert (d.status, d.attempts, d.last_status_code) == ("retrying", 1, 500)
    assert "receiver is down" in d.last_error
    delay = (d.next_attempt_at - before).total_seconds()
    assert 30 * 0.8 - 1 <= delay <= 30 * 1.2 + 1
    assert webhooks.deliver_due() == 0  # not due yet

    WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # let the clock move on
    before = timezone.now()
    webhooks.deliver_due()
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("retrying", 2)
    assert 60 * 0.8 - 1 <= (d.next_attempt_at - before).total_seconds() <= 60 * 1.2 + 1

    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    webhooks.deliver_due()
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("failed", 3)
    assert len(receiver.requests) == 3
    assert WebhookAttempt.objects.filter(delivery=d).count() == 3
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - dt.timedelta(hours=1))
    assert webhooks.deliver_due() == 0  # failed is final

    actions.redeliver(d)
    receiver.status = 204
    webhooks.deliver_due()
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("delivered", 1)


def test_unreachable_receiver_records_the_error(db):
    actions.create_subscription("http://127.0.0.1:9/nothing-listens", ["*"])
    events.emit("touchpoint.created", [{"id": 1}])
    webhooks.deliver_due()
    d = WebhookDelivery.objects.get()
    assert d.status == "retrying"
    assert d.last_status_code is None
    assert "Connection" in d.last_error or "refused" in d.last_error


def test_two_claimers_racing_send_each_delivery_once(transactional_db, receiver):
    actions.create_subscription(receiver.url, ["*"])
    events.emit("touchpoint.created", [{"id": i} for i in range(30)])
    start = threading.Barrier(2)
    counts: list[int] = []

    def claimer() -> None:
        from django.db import connection

        start.wait()
        try:
            counts.append(webhooks.deliver_due(batch=30))
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r["headers"]["X-Rapport-Delivery"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 30
    assert sum(counts) == 30
    assert WebhookDelivery.objects.filter(status="delivered").count() == 30


def test_claim_is_conditional(db):
    actions.create_subscription("https://a.example/h", ["*"])
    events.emit("touchpoint.created", [{"id": 1}])
    d = WebhookDelivery.objects.get()
    now = timezone.now()
    assert webhooks.claim(d.pk, now) is True
    assert webhooks.claim(d.pk, now) is False  # leased: another worker finds it not due


def test_inactive_subscription_is_not_sent(db, receiver):
    sub = actions.create_subscription(receiver.url, ["*"])
    events.emit("touchpoint.created", [{"id": 1}])
    actions.update_subscription(sub, active=False)
    webhooks.deliver_due()
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().status == "failed"
