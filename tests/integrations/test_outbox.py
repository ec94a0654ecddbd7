"""The outbox: emitting an event writes deliveries in the emitter's transaction, for the
subscriptions that want it, and asks for one delivery task after commit."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from rapport.core import events
from rapport.integrations import actions
from rapport.integrations.models import WebhookDelivery


def test_one_delivery_per_payload_and_interested_subscription(db):
    every = actions.create_subscription("https://a.example/h", ["*"])
    tps = actions.create_subscription("https://b.example/h", ["touchpoint.created"])
    actions.create_subscription("https://c.example/h", ["customer.merged"])
    actions.create_subscription("https://d.example/h", ["*"], active=False)
    events.emit(
        "touchpoint.created",
        [{"id": 1, "amount": __import__("decimal").Decimal("1.50")}, {"id": 2}],
    )
    rows = list(WebhookDelivery.objects.order_by("pk"))
    assert sorted(r.subscription_id for r in rows) == sorted([every.pk, every.pk, tps.pk, tps.pk])
    envelope = rows[0].payload
    assert set(envelope) == {"id", "type", "created_at", "data"}
    assert envelope["type"] == "touchpoint.created"
    assert envelope["data"]["amount"] == "1.50"
    same_event = [r for r in rows if r.payload["data"]["id"] == 1]
    assert len({r.event_id for r in same_event}) == 1  # one event, two deliveries


def test_no_subscription_no_rows(db):
    events.emit("touchpoint.created", [{"id": 1}])
    assert WebhookDelivery.objects.count() == 0


def test_rolled_back_work_sends_nothing(db):
    actions.create_subscription("https://a.example/h", ["*"])
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit("touchpoint.created", [{"id": 1}])
        raise RuntimeError("the import failed")
    assert WebhookDelivery.objects.count() == 0


def test_one_task_per_transaction_after_commit(transactional_db):
    actions.create_subscription("https://a.example/h", ["*"])
    with transaction.atomic():
        for i in range(5):
            events.emit("touchpoint.created", [{"id": i}])
        assert DBTaskResult.objects.count() == 0  # not before commit
    assert WebhookDelivery.objects.count() == 5
    assert DBTaskResult.objects.count() == 1
    events.emit("touchpoint.created", [{"id": 9}])  # a task is still waiting: none added
    assert DBTaskResult.objects.count() == 1


def test_ingested_touchpoints_reach_the_outbox(org):
    from rapport.touchpoints.ingest import ingest_touchpoints

    actions.create_subscription("https://a.example/h", ["touchpoint.created"])
    record = {
        "external_id": "t1",
        "customer_external_id": "c1",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "kind": "purchase",
    }
    ingest_touchpoints([record], source="dms", mode="per_record", keep_outcomes=True)
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.payload["data"]["external_id"] == "t1"
