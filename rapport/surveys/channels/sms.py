"""SMS through a provider interface. Shipped: a generic HTTP webhook provider that POSTs JSON
{"to", "text"} to a configured URL, signed like Rapport's webhooks (X-Rapport-Timestamp and
X-Rapport-Signature = "sha256=" + HMAC-SHA256(secret, "timestamp.body")), so any SMS gateway can be
bridged with a few lines on the receiving side."""

from __future__ import annotations

import json
import time
from typing import Protocol

from django.template.loader import render_to_string, select_template
from django.utils import translation

from rapport.integrations.rules import signature
from rapport.integrations.webhooks import post
from rapport.surveys.channels import SendError

TIMEOUT_SECONDS = 10


class SmsProvider(Protocol):
    def send(self, to: str, text: str) -> None:
        """Hand one text message to the provider; raise SendError when it was not taken."""


class WebhookSmsProvider:
    def __init__(self, url: str, secret: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout

    def request(self, to: str, text: str, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"to": to, "text": text}, ensure_ascii=False).encode()
        timestamp = int(now if now is not None else time.time())
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "Rapport-SMS/1",
            "X-Rapport-Timestamp": str(timestamp),
            "X-Rapport-Signature": signature(self.secret, timestamp, body),
        }

    def send(self, to: str, text: str) -> None:
        body, headers = self.request(to, text)
        status, error = post(self.url, body, headers, self.timeout)
        if error:
            # 4xx: the gateway rejected this message (bad number...); anything else may pass later.
            permanent = status is not None and 400 <= status < 500 and status not in {408, 429}
            raise SendError(error[:500], permanent=permanent)


def configured_provider() -> SmsProvider | None:
    from rapport.surveys.models import SmsProviderConfig

    config = SmsProviderConfig.objects.filter(active=True).order_by("-updated_at").first()
    return WebhookSmsProvider(config.url, config.secret) if config else None


def text(language: str, title: str, link: str, unsubscribe_url: str, reminder: bool) -> str:
    name = select_template(
        [f"surveys/sms/invitation.{language}.txt", "surveys/sms/invitation.en.txt"]
    ).origin.template_name
    context = {
        "title": title,
        "link": link,
        "unsubscribe_url": unsubscribe_url,
        "reminder": reminder,
    }
    with translation.override(language):
        return " ".join(render_to_string(name, context).split())
