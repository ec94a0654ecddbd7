"""Operations on API keys and webhook subscriptions, shared by the API, the UI and the commands.

Each raises `IntegrationError` with a message fit to show the user; none needs an outer
transaction (each is a single write, or its own atomic block).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.core.events import EVENT_TYPES
from rapport.integrations.models import (
    SCOPES,
    ApiKey,
    WebhookDelivery,
    WebhookSubscription,
    hash_key,
)
from rapport.integrations.rules import (
    DEFAULT_SCOPES,
    event_type_problems,
    unknown_scopes,
    webhook_url_problem,
)

LAST_USED_RESOLUTION = timedelta(minutes=1)


class IntegrationError(ValueError):
    """A request that cannot be done as asked; `field` names the input at fault, if one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def create_api_key(
    name: str, scopes: Iterable[str] | None = None, created_by: Any = None
) -> tuple[ApiKey, str]:
    """Issue a key; returns it with the raw secret, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise IntegrationError(_("An API key needs a name."), "name")
    wanted = list(DEFAULT_SCOPES if scopes is None else scopes)
    unknown = unknown_scopes(wanted, SCOPES)
    if unknown:
        raise IntegrationError(
            _("Unknown scope(s): %(unknown)s. Known scopes: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(SCOPES)},
            "scopes",
        )
    if not wanted:
        raise IntegrationError(_("An API key needs at least one scope."), "scopes")
    if ApiKey.objects.filter(name=name).exists():
        raise IntegrationError(
            _("An API key named %(name)s already exists.") % {"name": name}, "name"
        )
    try:
        with transaction.atomic():
            return ApiKey.issue(name, wanted, created_by=created_by)
    except IntegrityError as exc:  # a concurrent create with the same name
        raise IntegrationError(
            _("An API key named %(name)s already exists.") % {"name": name}, "name"
        ) from exc


def revoke_api_key(name: str) -> ApiKey:
    """Revoke a key by name; it stops working at once. Revoking twice is harmless."""
    try:
        key = ApiKey.objects.get(name=name)
    except ApiKey.DoesNotExist as exc:
        raise IntegrationError(_("No API key named %(name)s.") % {"name": name}, "name") from exc
    key.revoke()
    return key


def authenticate_key(raw: str) -> ApiKey | None:
    """The active key for a raw secret, or None; records its use at most once a minute so that
    busy integrations do not write on every request."""
    key = ApiKey.objects.filter(key_hash=hash_key(raw), revoked_at__isnull=True).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _checked_subscription_fields(url: str | None, event_types: list[str] | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if url is not None:
        problem = webhook_url_problem(url)
        if problem:
            raise IntegrationError(problem, "url")
        if len(url) > WebhookSubscription._meta.get_field("url").max_length:
            raise IntegrationError(_("The URL is too long."), "url")
        fields["url"] = url
    if event_types is not None:
        problems = event_type_problems(event_types, EVENT_TYPES)
        if problems:
            raise IntegrationError("; ".join(problems), "event_types")
        fields["event_types"] = sorted(set(event_types))
    return fields


def create_subscription(
    url: str, event_types: list[str], description: str = "", active: bool = True
) -> WebhookSubscription:
    """Subscribe a URL to event types ("*" for all); its signing secret is generated here."""
    fields = _checked_subscription_fields(url, event_types)
    return WebhookSubscription.objects.create(
        description=description[:200], active=active, **fields
    )


def update_subscription(sub: WebhookSubscription, **changes: Any) -> WebhookSubscription:
    """Change url, event_types, description or active; other names are refused."""
    allowed = {"url", "event_types", "description", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise IntegrationError(
            _("Cannot change: %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    fields = _checked_subscription_fields(changes.get("url"), changes.get("event_types"))
    if changes.get("description") is not None:
        fields["description"] = str(changes["description"])[:200]
    if changes.get("active") is not None:
        fields["active"] = bool(changes["active"])
    for name, value in fields.items():
        setattr(sub, name, value)
    if fields:
        sub.save(update_fields=list(fields))
    return sub


def delete_subscription(sub: WebhookSubscription) -> None:
    """Delete a subscription with its delivery log."""
    sub.delete()


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again soon (e.g. a failed one after the receiver was fixed); it gets a
    fresh set of attempts."""
    from rapport.integrations.webhooks import request_prompt_delivery

    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now
    )
    delivery.refresh_from_db()
    request_prompt_delivery()
    return delivery
