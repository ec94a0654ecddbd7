"""Webhook subscriptions: create, edit, deactivate, and the delivery log filtered by status."""

from __future__ import annotations

import uuid

from django.urls import reverse

from rapport.integrations.models import WebhookDelivery, WebhookSubscription

LIST = reverse("integrations:webhooks")


def test_create_edit_deactivate(users, as_user):
    client = as_user("cx")
    response = client.post(
        reverse("integrations:webhook_create"),
        {
            "url": "https://hooks.example.com/rapport",
            "description": "CRM",
            "event_types": ["touchpoint.created"],
            "active": "on",
        },
    )
    sub = WebhookSubscription.objects.get()
    assert response["Location"] == reverse("integrations:webhook", args=[sub.pk])
    assert sub.event_types == ["touchpoint.created"] and sub.active and sub.secret
    assert "hooks.example.com" in client.get(LIST).content.decode()

    client.post(
        reverse("integrations:webhook_edit", args=[sub.pk]),
        {"url": sub.url, "description": "CRM 2", "event_types": ["*"], "active": "on"},
    )
    sub.refresh_from_db()
    assert sub.description == "CRM 2" and sub.event_types == ["*"]

    client.post(reverse("integrations:webhook_deactivate", args=[sub.pk]))
    sub.refresh_from_db()
    assert not sub.active


def test_bad_url_is_refused_with_a_reason(users, as_user):
    response = as_user("cx").post(
        reverse("integrations:webhook_create"),
        {"url": "ftp://example.com/x", "event_types": ["touchpoint.created"]},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["url"]
    assert not WebhookSubscription.objects.exists()


def deliveries(sub: WebhookSubscription) -> dict[str, WebhookDelivery]:
    made = {}
    for status in ["pending", "delivered", "retrying", "failed"]:
        made[status] = WebhookDelivery.objects.create(
            subscription=sub,
            event_id=uuid.uuid4(),
            event_type="touchpoint.created",
            payload={"id": status},
            status=status,
            attempts=3 if status == "failed" else 1,
            last_status_code=500 if status == "failed" else None,
            last_error="Server Error" if status == "failed" else "",
        )
    return made


def test_delivery_log_filters_by_status(users, as_user):
    sub = WebhookSubscription.objects.create(url="https://x.example/h", event_types=["*"])
    made = deliveries(sub)
    client = as_user("cx")
    url = reverse("integrations:webhook", args=[sub.pk])
    assert len(client.get(url).context["page"].object_list) == 4
    failed = client.get(
        url, {"status": "failed"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="deliveries"
    )
    assert [d.pk for d in failed.context["page"].object_list] == [made["failed"].pk]
    body = failed.content.decode()
    assert "<html" not in body and "HTTP 500" in body and "Server Error" in body
    detail = client.get(reverse("integrations:delivery", args=[sub.pk, made["failed"].pk]))
    assert detail.status_code == 200 and '"id": "failed"' in detail.context["payload_json"]


def test_redeliver(users, as_user):
    sub = WebhookSubscription.objects.create(url="https://x.example/h", event_types=["*"])
    failed = deliveries(sub)["failed"]
    response = as_user("cx").post(reverse("integrations:redeliver", args=[sub.pk, failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.attempts == 0


def test_permissions(users, as_user):
    sub = WebhookSubscription.objects.create(url="https://x.example/h", event_types=["*"])
    for name in ["analyst", "taipei_agent", "north_mgr"]:
        client = as_user(name)
        assert client.get(LIST).status_code == 403, name
        assert client.get(reverse("integrations:webhook", args=[sub.pk])).status_code == 403
        post = client.post(reverse("integrations:webhook_deactivate", args=[sub.pk]))
        assert post.status_code == 403
    sub.refresh_from_db()
    assert sub.active
