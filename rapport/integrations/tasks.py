"""Background work of the integrations app: sending webhooks.

The task is enqueued after a transaction that wrote deliveries commits, so they go out within
seconds; the periodic job sends retries when they fall due and anything a task missed.
"""

from __future__ import annotations

import threading

from django_tasks import task

from rapport.core.scheduler import periodic
from rapport.integrations import webhooks


@task()
def deliver_webhooks() -> int:
    """Send every delivery that is due now; return how many were attempted."""
    return webhooks.deliver_due()


@periodic(seconds=5, name="webhooks.deliver_due")
def deliver_due_webhooks(stop: threading.Event) -> None:
    webhooks.deliver_due(stop=stop)
