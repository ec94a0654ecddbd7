"""Unsubscribing from survey invitations without logging in.

Every invitation carries a signed link naming the customer and channel (never guessable, never a
client-chosen id); following it records an explicit opt-out — Consent(channel, "survey") = no —
which every contact rule honours, including the check just before sending.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db import transaction

from rapport.customers.models import Consent, Customer
from rapport.surveys.contact_rules import PURPOSE

SALT = "rapport.surveys.unsubscribe"
CHANNELS = {"email": Consent.Channel.EMAIL, "sms": Consent.Channel.SMS}


def unsubscribe_token(customer_id: int, channel: str) -> str:
    return signing.dumps({"c": customer_id, "ch": channel}, salt=SALT, compress=False)


def read_unsubscribe_token(token: str) -> dict[str, Any] | None:
    """{"c": customer id, "ch": channel}, or None for anything tampered or malformed."""
    if len(token) > 300:
        return None
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("c"), int)
        or payload.get("ch") not in CHANNELS
    ):
        return None
    return payload


def record_opt_out(customer_id: int, channel: str, source: str = "unsubscribe link") -> bool:
    """Record that the customer wants no survey invitations on this channel; False when the
    customer no longer exists. Idempotent. One transaction (update_or_create)."""
    with transaction.atomic():
        customer = Customer.objects.filter(pk=customer_id).only("pk", "merged_into").first()
        if customer is None:
            return False
        target = customer.merged_into_id or customer.pk  # a merged record's survivor
        Consent.objects.update_or_create(
            customer_id=target,
            channel=CHANNELS[channel],
            purpose=PURPOSE,
            defaults={"granted": False, "source": source},
        )
    return True
