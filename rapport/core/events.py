"""Domain events: one way for any app to say "this happened".

`emit` records the event for webhook subscribers inside the caller's transaction (an outbox: an
event is never lost, nor sent for work that was rolled back) and calls in-process subscribers after
commit. Later apps subscribe here (e.g. [cases] to `response.completed`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)

Handler = Callable[[str, list[Mapping[str, Any]]], None]

# Every event type Rapport emits, with what it means; webhook subscriptions choose from these.
EVENT_TYPES: dict[str, str] = {
    "touchpoint.created": "A touchpoint was recorded (import, API or UI).",
    "customer.merged": "Two customers were merged into one (or a merge was undone).",
}

_handlers: dict[str, list[Handler]] = defaultdict(list)
_outboxes: list[Callable[[str, list[Mapping[str, Any]]], None]] = []


def subscribe(event_type: str) -> Callable[[Handler], Handler]:
    """Register an in-process handler, called after commit with all payloads of one emit."""

    def register(fn: Handler) -> Handler:
        _handlers[event_type].append(fn)
        return fn

    return register


def register_outbox(writer: Callable[[str, list[Mapping[str, Any]]], None]) -> None:
    """Register a writer that stores events in the caller's transaction (the webhook outbox)."""
    if writer not in _outboxes:
        _outboxes.append(writer)


def emit(event_type: str, payloads: Iterable[Mapping[str, Any]]) -> None:
    """Emit one event per payload. Call inside the transaction that made the change."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    batch = list(payloads)
    if not batch:
        return
    for writer in _outboxes:
        writer(event_type, batch)
    handlers = list(_handlers.get(event_type, ()))
    if handlers:

        def dispatch() -> None:
            for handler in handlers:
                try:
                    handler(event_type, batch)
                except Exception:  # one subscriber's bug must not stop the others
                    log.exception("event handler %s failed for %s", handler, event_type)

        transaction.on_commit(dispatch)
