"""Domain events: one way for any app to say "this happened".

`emit` records the event for webhook subscribers inside the caller's transaction (an outbox: an
event is never lost, nor sent for work that was rolled back) and calls in-process subscribers
there too, each in its own savepoint. Subscribers must be quick: they match what concerns them and
hand the real work to the task queue, whose rows commit (or roll back) with the change — so no work
is lost after a crash, and a multi-million-row import holds no payloads in memory until its commit.
A failing subscriber is logged and rolled back to its savepoint; it never breaks the emitter.
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
    "response.completed": "A survey response was completed, with its scores.",
    "case.opened": "A case was opened (by a rule, by hand, by email or by API).",
    "case.escalated": "A case went up: a remedy needs approval, or a delay was escalated.",
    "case.breached": "A case missed an SLA target (acknowledge, first response or resolve).",
    "case.resolved": "A case was resolved, with its cause.",
    "case.closed": "A case was closed (confirmed, recovery survey answered, or no reply).",
}

_handlers: dict[str, list[Handler]] = defaultdict(list)
_interest: dict[Handler, Callable[[], bool]] = {}
_outboxes: list[Callable[[str, list[Mapping[str, Any]]], None]] = []


def subscribe(
    event_type: str, interested: Callable[[], bool] | None = None
) -> Callable[[Handler], Handler]:
    """Register an in-process handler, called in the emitter's transaction with the payloads.

    `interested()` (optional) says whether the handler currently wants events at all (e.g. any
    active rule exists), so a bulk writer with no one interested can skip building payloads."""

    def register(fn: Handler) -> Handler:
        _handlers[event_type].append(fn)
        if interested is not None:
            _interest[fn] = interested
        return fn

    return register


def register_outbox(writer: Callable[[str, list[Mapping[str, Any]]], None]) -> None:
    """Register a writer that stores events in the caller's transaction (the webhook outbox)."""
    if writer not in _outboxes:
        _outboxes.append(writer)


def has_handlers(event_type: str) -> bool:
    """Whether an in-process handler listens (lets bulk writers skip building payloads)."""
    return any(_interest.get(fn, _always)() for fn in _handlers.get(event_type, ()))


def _always() -> bool:
    return True


def emit(event_type: str, payloads: Iterable[Mapping[str, Any]]) -> None:
    """Emit one event per payload. Call inside the transaction that made the change."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    batch = list(payloads)
    if not batch:
        return
    for writer in _outboxes:
        writer(event_type, batch)
    for handler in _handlers.get(event_type, ()):
        try:
            with transaction.atomic():
                handler(event_type, batch)
        except Exception:  # one subscriber's bug must not stop the emitter or the others
            log.exception("event handler %s failed for %s", handler, event_type)
