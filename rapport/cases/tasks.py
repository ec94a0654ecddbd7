"""Background work of cases: opening cases from rule signals, and the periodic sweep (SLA
warnings and breaches, overdue approvals, overdue promises, message retries) — each step claimed
so that it happens once however many workers run (rapport.cases.actions)."""

from __future__ import annotations

import logging
import threading

from django_tasks import task

from rapport.cases import messages
from rapport.cases.actions import Actor, opening, promises, remedies, sla
from rapport.cases.rules import Signal
from rapport.core.scheduler import periodic

log = logging.getLogger(__name__)


@task()
def open_cases(signals: list[dict]) -> dict:
    """Open or attach a case per signal; one bad signal is logged and does not stop the others."""
    opened = attached = failed = 0
    for data in signals:
        try:
            _case, created = opening.open_or_attach(Signal.from_dict(data), Actor.system("rule"))
        except Exception:
            log.exception("case signal failed: %s", data)
            failed += 1
            continue
        opened += created
        attached += not created
    return {"opened": opened, "attached": attached, "failed": failed}


@periodic(seconds=60, name="cases.sweep")
def sweep(stop: threading.Event) -> None:
    sla.sweep_sla()
    if stop.is_set():
        return
    remedies.escalate_overdue_approvals()
    promises.break_overdue_promises()
    messages.retry_failed()


@task()
def open_case_from_email(inbound_id: int) -> int | None:
    """Open or join the sender's case for a new email (rapport.cases.mail_actions)."""
    from rapport.cases.mail_actions import open_case_for

    case = open_case_for(inbound_id)
    return case.pk if case else None


@periodic(seconds=300, name="cases.fetch_mail")
def fetch_mail(stop: threading.Event) -> None:
    """Poll the IMAP mailbox when one is configured (CaseSettings or RAPPORT_IMAP_*)."""
    from rapport.cases import mail_actions

    cfg = mail_actions.imap_config()
    if cfg is None:
        return
    report = mail_actions.fetch_imap(cfg)
    if report.received:
        log.info("fetch-mail: %s", report.summary())


@periodic(seconds=3600, name="cases.weekly_digest")
def weekly_digest(stop: threading.Event) -> None:
    """Send last week's digest to the staff of every unit, once per unit and week, from Monday
    08:00 in the enterprise's time zone (rapport.cases.digest)."""
    from rapport.cases import digest

    digest.send_due()
