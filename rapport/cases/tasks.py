"""Background work of cases: opening cases from rule signals, and the periodic sweep (SLA
warnings and breaches, overdue approvals, overdue promises, message retries) — each step claimed
so that it happens once however many workers run (rapport.cases.actions)."""

from __future__ import annotations

import logging
import threading

from django_tasks import task

from rapport.cases import actions, messages
from rapport.cases.rules import Signal
from rapport.core.scheduler import periodic

log = logging.getLogger(__name__)


@task()
def open_cases(signals: list[dict]) -> dict:
    """Open or attach a case per signal; one bad signal is logged and does not stop the others."""
    opened = attached = failed = 0
    for data in signals:
        try:
            _case, created = actions.open_or_attach(
                Signal.from_dict(data), actions.Actor.system("rule")
            )
        except Exception:
            log.exception("case signal failed: %s", data)
            failed += 1
            continue
        opened += created
        attached += not created
    return {"opened": opened, "attached": attached, "failed": failed}


@periodic(seconds=60, name="cases.sweep")
def sweep(stop: threading.Event) -> None:
    actions.sweep_sla()
    if stop.is_set():
        return
    actions.escalate_overdue_approvals()
    actions.break_overdue_promises()
    messages.retry_failed()
