from django.contrib import admin
from django.db import models

from rapport.integrations.models import (
    ApiKey,
    SubscriptionStamp,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued on the API keys page or with `rapport apikey create` (the secret is shown
    once there); here they can be looked at and revoked."""

    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at"]
    search_fields = ["name", "prefix"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["url", "description", "active", "created_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ["active"]
    search_fields = ["url", "description"]


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "error", "duration_ms"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log, read-only: deliveries are made by events and the worker."""

    list_display = [
        "created_at",
        "event_type",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["subscription"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(SubscriptionStamp)
class SubscriptionStampAdmin(admin.ModelAdmin):
    """Read-only: the stamp changes by itself with every change to the subscriptions."""

    list_display = ["id", "stamp"]
    readonly_fields = ["stamp"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
