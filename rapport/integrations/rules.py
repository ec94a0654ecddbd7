"""The rules of API keys and webhooks, kept apart from the ORM and HTTP so that they are fast to
test and the same for the API, the UI and the commands.

A webhook receiver verifies `X-Rapport-Signature` with `signature(secret, timestamp, body)`; the
same function signs here, so the documented recipe and the sender cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

# Keys made by `rapport apikey create` without --scope get these: everything an integration needs
# to send and read data. Managing webhooks (where data is sent to) must be asked for explicitly.
DEFAULT_SCOPES = ("customers:read", "customers:write", "touchpoints:read", "touchpoints:write")

RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 6 * 3600
ERROR_MAX_CHARS = 500


def unknown_scopes(scopes: Iterable[str], known: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - set(known))


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The value of X-Rapport-Signature: HMAC-SHA256 over "timestamp.body", hex, prefixed."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_matches(secret: str, timestamp: int | str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def retry_delay(failed_attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before the next try after `failed_attempts` failures: 30 s × 2^(n-1), ±20 %
    jitter (so that a receiver coming back is not hit by every retry at once), capped at 6 h."""
    n = max(failed_attempts, 1)
    base = min(RETRY_BASE_SECONDS * 2 ** (n - 1), RETRY_CAP_SECONDS)
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(base * jitter, RETRY_CAP_SECONDS)


def is_success(status_code: int) -> bool:
    return 200 <= status_code < 300


def webhook_url_problem(url: str) -> str | None:
    """Why a URL cannot receive webhooks, or None. Only absolute http(s) URLs are allowed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _("not a valid URL")
    if parts.scheme not in {"http", "https"}:
        return _("only http and https URLs can receive webhooks")
    if not parts.hostname:
        return _("the URL has no host")
    try:
        parts.port  # noqa: B018 — raises on a bad port
    except ValueError:
        return _("the URL has an invalid port")
    if parts.username or parts.password:
        return _("credentials in the URL are not allowed; check the signature instead")
    return None


def event_type_problems(event_types: Iterable[str], known: Iterable[str]) -> list[str]:
    """What is wrong with a subscription's event types ("*" means every event)."""
    wanted = list(event_types)
    if not wanted:
        return [_("choose at least one event type")]
    allowed = set(known) | {"*"}
    return [
        _("unknown event type %(name)s") % {"name": repr(name)}
        for name in wanted
        if name not in allowed
    ]


def truncated(text: str, limit: int = ERROR_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
