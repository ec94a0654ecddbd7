"""Domain events: one way for any app to say "this happened".

`emit` records the event for webhook subscribers inside the caller's transaction (an outbox: an
event is never lost, nor sent for work that was rolled back) and calls in-process subscribers
there too, each in its own savepoint. Subscribers must be quick: they match what concerns them and
hand the real work to the task queue, whose rows commit (or roll back) with the change — so no work
is lost after a crash, and a multi-million-row import holds no payloads in memory until its commit.
A failing subscriber is logged and rolled back to its savepoint; it never breaks the emitter.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

log = logging.getLogger(__name__)

Handler = Callable[[str, list[Mapping[str, Any]]], None]

# Every event type Rapport emits, with what it means; webhook subscriptions choose from these.
EVENT_TYPES: dict[str, str | Promise] = {
    "touchpoint.created": _("A touchpoint was recorded (import, API or UI)."),
    "customer.merged": _("Two customers were merged into one (or a merge was undone)."),
    "response.completed": _("A survey response was completed, with its scores."),
    "case.opened": _("A case was opened (by a rule, by hand, by email or by API)."),
    "case.escalated": _("A case went up: a remedy needs approval, or a delay was escalated."),
    "case.breached": _("A case missed an SLA target (acknowledge, first response or resolve)."),
    "case.resolved": _("A case was resolved, with its cause."),
    "case.closed": _("A case was closed (confirmed, recovery survey answered, or no reply)."),
    "feedback.received": _("Feedback was received and analysed (sentiment, causes, themes)."),
    "email.received": _("A new email from a customer was received (not a reply to a case)."),
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


def live(
    payloads: Iterable[Mapping[str, Any]], now: dt.datetime | None = None
) -> list[Mapping[str, Any]]:
    """The payloads of things that happened recently enough to act on now.

    Rules that react to what a customer lives through (open a case, invite to a survey) must not
    fire for history loaded after the fact: importing last year's complaints opens no case today.
    The window is settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS; a payload without a time counts as now.
    """
    now = now or timezone.now()
    oldest = now - dt.timedelta(days=settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS)
    kept = []
    for p in payloads:
        at = p.get("occurred_at")
        if at is None:
            kept.append(p)
            continue
        when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when >= oldest:
            kept.append(p)
    return kept


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
