"""Each process keeps the active webhook subscriptions in memory and re-reads them only when their
stamp changed: every way of changing them (create, edit, deactivate, delete, queryset writes)
must change the stamp, in the same transaction, so no process ever sends from a stale copy."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rapport.core import events
from rapport.integrations import actions, webhooks
from rapport.integrations.models import SubscriptionStamp, WebhookDelivery, WebhookSubscription


def urls(event_type: str = "touchpoint.created") -> list[str]:
    return sorted(s.url for s in webhooks.subscriptions_for(event_type))


def test_an_unchanged_set_costs_one_small_query(db):
    actions.create_subscription("https://a.example/h", ["*"])
    assert urls() == ["https://a.example/h"]
    with CaptureQueriesContext(connection) as ctx:
        assert urls() == ["https://a.example/h"]
    assert len(ctx.captured_queries) == 1
    assert "stamp" in ctx.captured_queries[0]["sql"]


def test_every_kind_of_change_is_seen(db):
    sub = actions.create_subscription("https://a.example/h", ["touchpoint.created"])
    assert urls() == ["https://a.example/h"]
    actions.update_subscription(sub, event_types=["customer.merged"])
    assert urls() == []
    assert urls("customer.merged") == ["https://a.example/h"]
    actions.update_subscription(sub, active=False)
    assert urls("customer.merged") == []
    WebhookSubscription.objects.filter(pk=sub.pk).update(active=True)
    assert urls("customer.merged") == ["https://a.example/h"]
    WebhookSubscription.objects.bulk_create(
        [WebhookSubscription(url="https://b.example/h", event_types=["*"], secret="s")]
    )
    assert urls("customer.merged") == ["https://a.example/h", "https://b.example/h"]
    actions.delete_subscription(sub)
    assert urls("customer.merged") == ["https://b.example/h"]
    WebhookSubscription.objects.all().delete()
    assert urls("customer.merged") == []


def test_another_process_change_is_seen(db):
    """Another process changed the subscriptions: only the stamp row tells this one."""
    sub = actions.create_subscription("https://a.example/h", ["*"])
    assert urls() == ["https://a.example/h"]
    # What another process's edit leaves in the database; this process's copy is not touched.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_webhooksubscription SET active = %s WHERE id = %s", [False, sub.pk]
        )
    assert urls() == ["https://a.example/h"]  # the stamp did not move: the copy is used
    SubscriptionStamp.objects.filter(pk=1).update(stamp=12345)
    assert urls() == []


def test_a_rolled_back_change_leaves_no_stale_copy(db):
    actions.create_subscription("https://a.example/h", ["*"])
    assert urls() == ["https://a.example/h"]
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.create_subscription("https://b.example/h", ["*"])
        assert urls() == ["https://a.example/h", "https://b.example/h"]  # cached in there
        raise RuntimeError("rolled back")
    assert urls() == ["https://a.example/h"]
    events.emit("touchpoint.created", [{"id": 1}])
    assert [d.subscription.url for d in WebhookDelivery.objects.all()] == ["https://a.example/h"]


def test_without_the_stamp_row_nothing_is_cached(db):
    SubscriptionStamp.objects.all().delete()
    assert urls() == []
    with connection.cursor() as cursor:  # a write that bypasses the model, and no stamp row
        cursor.execute(
            "INSERT INTO integrations_webhooksubscription"
            " (url, description, event_types, secret, active, created_at)"
            " VALUES (%s, '', %s, 's', %s, %s)",
            ["https://a.example/h", '["*"]', True, "2026-01-01 00:00:00"],
        )
    assert urls() == ["https://a.example/h"]
