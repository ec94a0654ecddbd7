"""API keys for other systems, and outgoing webhooks with their delivery log."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

KEY_PREFIX = "rk_"

SCOPES: dict[str, str] = {
    "customers:read": _("Read customers and their timelines"),
    "customers:write": _("Create and update customers"),
    "touchpoints:read": _("Read touchpoints"),
    "touchpoints:write": _("Send touchpoints"),
    "webhooks:manage": _("Manage webhook subscriptions"),
    "surveys:read": _("Read surveys and their results"),
    "responses:write": _("Send survey responses"),
    "cases:read": _("Read cases and the approval queue"),
    "cases:write": _("Open cases and act on them"),
    "feedback:read": _("Read feedback items"),
    "feedback:write": _("Send feedback and correct its labels"),
}


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A key an integration sends as `Authorization: Bearer rk_...`; only its hash is kept."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, name: str, scopes: list[str], created_by=None) -> tuple[ApiKey, str]:  # type: ignore[no-untyped-def]
        """Create a key and return it with the raw secret, which is shown once and never kept."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            name=name,
            prefix=raw[:10],
            key_hash=hash_key(raw),
            scopes=sorted(set(scopes)),
            created_by=created_by,
        )
        return key, raw

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def allows(self, scope: str) -> bool:
        return self.active and scope in self.scopes


def bump_subscriptions_stamp() -> None:
    """Mark the webhook subscriptions as changed, in the caller's transaction (so the mark
    commits, or rolls back, with the change). A fresh random stamp rather than a counter: a
    rolled-back change could otherwise leave a number that a later change reuses, and a cache
    filled inside that transaction would look current."""
    qn = connection.ops.quote_name
    table = qn(SubscriptionStamp._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({qn('id')}, {qn('stamp')}) VALUES (1, %s)"
            f" ON CONFLICT ({qn('id')}) DO UPDATE SET {qn('stamp')} = excluded.{qn('stamp')}",
            [secrets.randbits(62)],
        )


class SubscriptionStamp(models.Model):
    """One row (id 1) whose stamp changes with every change to the webhook subscriptions, so that
    each process can keep them in memory and check with one tiny query that its copy is current
    (rapport.integrations.webhooks.subscriptions_for)."""

    stamp = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("webhook subscriptions stamp")

    def __str__(self) -> str:
        return str(self.stamp)


class SubscriptionQuerySet(models.QuerySet):
    """Bulk writes that bypass the model's save/delete signals still mark the change."""

    def bulk_create(self, objs, *args, **kwargs):  # type: ignore[no-untyped-def]
        with transaction.atomic():
            created = super().bulk_create(objs, *args, **kwargs)
            bump_subscriptions_stamp()
        return created

    def bulk_update(self, objs, *args, **kwargs):  # type: ignore[no-untyped-def]
        with transaction.atomic():
            changed = super().bulk_update(objs, *args, **kwargs)
            bump_subscriptions_stamp()
        return changed

    def delete(self):  # type: ignore[no-untyped-def]
        with transaction.atomic():
            deleted = super().delete()
            bump_subscriptions_stamp()
        return deleted

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        with transaction.atomic():
            changed = super().update(**kwargs)
            bump_subscriptions_stamp()
        return changed

    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class WebhookSubscription(models.Model):
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list)
    secret = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["url"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if not self.secret:
            self.secret = secrets.token_hex(32)
        with transaction.atomic():
            super().save(*args, **kwargs)
            bump_subscriptions_stamp()

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            bump_subscriptions_stamp()
        return deleted

    def wants(self, event_type: str) -> bool:
        return self.active and (event_type in self.event_types or "*" in self.event_types)


@receiver(post_save, sender=WebhookSubscription)
@receiver(post_delete, sender=WebhookSubscription)
def _subscription_changed(sender, raw=False, **kwargs):  # type: ignore[no-untyped-def]
    """Writes that bypass WebhookSubscription.save/delete (loaddata, deletes cascading from
    elsewhere) still change the stamp."""
    bump_subscriptions_stamp()


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        RETRYING = "retrying", _("Retrying")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["subscription", "-created_at"], name="delivery_sub_time"),
        ]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: what the receiver answered, or why it could not."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["delivery", "attempted_at"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.attempted_at:%Y-%m-%d %H:%M:%S}"
